/**
 * AudioCodes 400HD: the image first (the phone decides on its header whether it needs it), then the
 * configuration file, which is optional ("if a configuration file is available on the server, the
 * phone downloads it") and must be for this model.
 */
import { checkCfgModel, parseAudiocodesCfg } from '../phones/audiocodes-cfg.js';
import type { FlowContext } from './flow.js';
import { downloadImage } from './image.js';
import { DONE, failed, type StepResult } from './phases.js';

export async function audiocodesFlow(ctx: FlowContext): Promise<StepResult> {
  const { o, plan, files } = ctx;
  const { image: imageName, config: cfgName } = plan.files;
  if (imageName === undefined || cfgName === undefined)
    return failed('script', `the plan for the ${o.model.name} names no image or configuration file`);
  const image = await downloadImage(ctx, { file: imageName, decideOnHeader: true });
  if (!image.ok) return image;
  const cfg = await files.read('settings', cfgName);
  // None on any server is a skipped phase, as a missing Avaya settings file is; any other failure fails.
  if (!cfg.ok && cfg.notFound) {
    ctx.phases.skipNotFound(cfgName);
    return DONE;
  }
  if (!cfg.ok) return failed('settings', `configuration ${cfgName}: ${cfg.error}`);
  const check = checkCfgModel(parseAudiocodesCfg(cfg.body), o.model.name);
  if (!check.ok)
    return failed(
      'settings',
      `${cfgName}${check.problem.line ? `:${check.problem.line}` : ''}: ${check.problem.message}`,
    );
  return DONE;
}
