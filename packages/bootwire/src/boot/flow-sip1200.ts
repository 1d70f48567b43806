/**
 * Avaya 1200 SIP: the provisioning file; the image its [FW] section names (from the server it names);
 * the configuration files of its other sections, from the provisioning server; then the phone's own
 * SIP<MAC>.cfg when [USER_CONFIG] asks for it (optional).
 */
import { sip1200ImageServer } from '../phones/file-plan.js';
import { decideImage } from '../phones/image-policy.js';
import { settingsFileFor } from '../phones/models.js';
import { fwDirective, hasUserConfig, parseSip1200Provisioning, sectionFiles } from '../phones/sip1200-config.js';
import type { FlowContext } from './flow.js';
import { downloadImage } from './image.js';
import { DONE, failed, type StepResult } from './phases.js';

export async function sip1200Flow(ctx: FlowContext): Promise<StepResult> {
  const { o, plan, files, report, running } = ctx;
  const model = o.model;
  const name = plan.files.script ?? model.files.script;
  if (name === undefined) return failed('script', `the ${model.name} has no provisioning file in the model table`);
  const prov = await files.read('script', name);
  if (!prov.ok) return failed('script', `provisioning file ${name}: ${prov.error}`);
  const file = parseSip1200Provisioning(prov.body);
  const fw = fwDirective(file);
  if (fw) {
    const v = decideImage(model, running, { name: fw.filename, version: fw.version, mode: fw.mode });
    report.imageDecision = v.reason;
    if (v.download) {
      const image = await downloadImage(ctx, {
        file: fw.filename,
        servers: [sip1200ImageServer(fw, prov.server)],
        decideOnHeader: false,
        version: fw.version,
      });
      if (!image.ok) return image;
    }
  }
  // Other sections name configuration files, fetched from the provisioning server.
  for (const s of file.sections) {
    if (s.name === 'FW' || s.name === 'USER_CONFIG') continue;
    for (const f of sectionFiles(s)) {
      const r = await files.read('settings', f.value, [prov.server]);
      if (!r.ok) return failed('settings', `${f.value} (named in [${s.name}] of ${name}, line ${f.line}): ${r.error}`);
    }
  }
  if (hasUserConfig(file)) {
    const user = settingsFileFor(model, o.mac);
    const r = await files.read('settings', user, [prov.server]);
    if (!r.ok && !r.notFound) return failed('settings', `${user}: ${r.error}`);
    if (!r.ok) ctx.phases.skipNotFound(user);
  }
  return DONE;
}
