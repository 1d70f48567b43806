/**
 * What a provisioning flow works with: the phone, its plan and state, the report it fills in, the
 * timeline, and the file getter. A flow per provisioning format (flow-*.ts) runs the phone's files in
 * its manual's order and returns how it ended; failures are results, not exceptions.
 */
import type { FilePlan } from '../phones/file-plan.js';
import type { RunningImage } from '../phones/image-policy.js';
import type { ProvisioningFormat } from '../phones/models.js';
import type { BootOptions } from './boot-phone.js';
import type { FileGetter } from './file-getter.js';
import type { BootReport, PhaseRecorder, StepResult } from './phases.js';
import type { PhoneState } from './state.js';

export interface FlowContext {
  readonly o: BootOptions;
  readonly plan: FilePlan;
  /** What the phone remembers across boots (saved by the flow as it changes). */
  readonly state: PhoneState;
  readonly report: BootReport;
  readonly phases: PhaseRecorder;
  readonly files: FileGetter;
  /** The application the phone runs as the boot starts. */
  readonly running: RunningImage;
}

export type Flow = (ctx: FlowContext) => Promise<StepResult>;

export type Flows = Readonly<Record<ProvisioningFormat, Flow>>;
