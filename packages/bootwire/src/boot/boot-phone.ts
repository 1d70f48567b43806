/**
 * One phone's boot, as its manual describes it: DHCP, the script or provisioning file from the file
 * servers in the model's order, the application image only when it differs from what the phone runs
 * (checked as it streams in, never "burnt" when wrong), then the settings. Used by `bootwire boot` for
 * one phone and by the storm for hundreds; the per-family rules live in src/phones (pure), this module
 * only drives the network through them.
 */
import type { DoraClient } from '@bootwire/dhcp';
import type { PhoneModel, ProvisioningFormat } from '../phones/models.js';
import type { RunningImage } from '../phones/image-policy.js';
import type { FetchContext } from './fetch.js';
import { FileGetter, ServerChoice } from './file-getter.js';
import type { Flow, FlowContext } from './flow.js';
import { audiocodesFlow } from './flow-audiocodes.js';
import { avayaScriptFlow } from './flow-avaya-script.js';
import { sip1200Flow } from './flow-sip1200.js';
import { type BootReport, type Phase, PhaseRecorder, round } from './phases.js';
import { planOf } from './plan.js';
import type { PhoneState, PhoneStateStore } from './state.js';

export type { BootReport, Phase, PhaseRecord } from './phases.js';
export { planFromUrl } from './plan.js';

export interface BootOptions {
  model: PhoneModel;
  mac: string;
  /** DHCP through this client; absent: `server` must be given. */
  dhcp?: DoraClient;
  /** Send the files' requests from the address the lease gives (a phone in a site has it configured). */
  bindToLease?: boolean;
  /** Skip DHCP: the phone is pointed at this URL (`tftp://host:port/dir/`, `http://…`). */
  server?: string;
  state: PhoneStateStore;
  fetch?: FetchContext;
  /** Called as each phase starts (the storm's live display). */
  onPhase?: (phase: Phase) => void;
  /** What the user types when a backup server asks (BRAUTH=1, or a 401). */
  backupCredentials?: { user: string; password: string };
}

/** One flow per provisioning format: the files in the order the model's manual gives. */
const FLOWS: Readonly<Record<ProvisioningFormat, Flow>> = {
  'avaya-script': avayaScriptFlow,
  'sip1200-provisioning': sip1200Flow,
  'audiocodes-url': audiocodesFlow,
};

export async function bootPhone(o: BootOptions): Promise<BootReport> {
  const started = performance.now();
  const phases = new PhaseRecorder(started, o.onPhase);
  const report: BootReport = {
    model: o.model.name,
    mac: o.mac,
    ok: false,
    imageDownloaded: false,
    phases: phases.records,
    ms: 0,
    retransmits: 0,
    bytes: 0,
  };
  let state: PhoneState | undefined;
  try {
    state = await o.state.load(o.mac);
    const planned = await planOf(o, phases, state, report);
    const outcome = planned.ok
      ? await runFlow(
          o.bindToLease && report.address ? { ...o, fetch: { ...o.fetch, localAddress: report.address } } : o,
          { plan: planned.plan, state, phases, report },
        )
      : planned;
    if (outcome.ok) report.ok = true;
    else {
      report.error = outcome.error;
      report.failedIn = outcome.phase;
    }
  } catch (e) {
    // Not a failed phase but a fault (the state store, a broken URL): reported without a phase.
    report.error = (e as Error).message;
  }
  // The lease is kept even when the files fail, as a phone keeps it: the next boot asks for it again.
  if (!report.ok && state && report.address) await o.state.save(o.mac, state).catch(() => undefined);
  report.ms = round(performance.now() - started);
  for (const p of phases.records) {
    report.retransmits += p.retransmits;
    report.bytes += p.bytes;
  }
  return report;
}

/** The phone's files, by its format's flow; the state is saved once it succeeds. */
async function runFlow(o: BootOptions, run: Pick<FlowContext, 'plan' | 'state' | 'phases' | 'report'>) {
  const { plan, state, phases } = run;
  const running: RunningImage = state.image
    ? { name: state.image.name, ...(state.image.version ? { version: state.image.version } : {}) }
    : {};
  const files = new FileGetter(o.model, new ServerChoice(plan.servers, plan.noTftpAfterHttp), phases, o.fetch);
  const outcome = await FLOWS[o.model.files.format]({ ...run, o, files, running });
  if (outcome.ok) await o.state.save(o.mac, state);
  return outcome;
}
