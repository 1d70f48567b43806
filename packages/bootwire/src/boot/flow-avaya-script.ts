/**
 * Avaya 4600, 1600 and 96xx: the upgrade script, read once to learn the application the phone must
 * run (and read again after an upgrade), then run for the settings files it GETs; then BRURI restore
 * and backup (1600, 96xx).
 */
import { runAvayaScriptAsync } from '../phones/avaya-script.js';
import { decideImage } from '../phones/image-policy.js';
import { scriptVariables } from '../phones/models.js';
import { backupAndRestore } from './backup-phases.js';
import type { FlowContext } from './flow.js';
import { downloadImage } from './image.js';
import { DONE, failed, type StepResult } from './phases.js';

export async function avayaScriptFlow(ctx: FlowContext): Promise<StepResult> {
  const { o, plan, files, report, running } = ctx;
  const model = o.model;
  const scriptName = plan.files.script ?? model.files.script;
  if (scriptName === undefined || model.script === undefined)
    return failed('script', `the ${model.name} has no upgrade script in the model table`);
  const script = await files.read('script', scriptName);
  if (!script.ok) return failed('script', `script ${scriptName}: ${script.error}`);
  const source = { name: scriptName, text: script.body };
  const options = { dialect: model.script.dialect, variables: scriptVariables(model, o.mac) };
  // First pass, as the phone reads the script before it (re)starts: which application it must run.
  // GETs are answered later, once the right application runs (the phone reboots into it first).
  const dry = await runAvayaScriptAsync(source, options, async () => undefined);
  if (dry.appName) {
    const v = decideImage(model, running, { name: dry.appName });
    report.imageDecision = v.reason;
    if (v.download) {
      const image = await downloadImage(ctx, { file: dry.appName, decideOnHeader: false });
      if (!image.ok) return image;
      // Rebooted into the new application: the script is read again.
      const again = await files.read('script', scriptName);
      if (!again.ok) return failed('script', `script ${scriptName} after the upgrade: ${again.error}`);
    }
  }
  const result = await runAvayaScriptAsync(source, options, async (file) => {
    const r = await files.read('settings', file);
    if (!r.ok && r.notFound) ctx.phases.skipNotFound(file); // the script goes on without it
    return r.ok ? r.body : undefined;
  });
  if (!result.completed)
    return failed(
      'settings',
      `script ${scriptName} did not complete (${result.warnings.at(-1)?.message ?? 'limit reached'})`,
    );
  await backupAndRestore(ctx, result.values);
  return DONE;
}
