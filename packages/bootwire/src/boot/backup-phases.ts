/**
 * BRURI (1600, 96xx): restore what the last boot backed up (from the second boot on), then back up
 * (backup.ts). Failures are recorded as failed phases; the phone carries on, as its guide says
 * ("Retrieval failed"), so the boot does not fail. Kept to the allowed protocols (storm --protocols):
 * a storm kept on TFTP makes no backups.
 */
import { backupData, backupPlan, backupRequest, sha256 } from './backup.js';
import type { FlowContext } from './flow.js';
import { type PhaseRecord, round } from './phases.js';

export async function backupAndRestore(ctx: FlowContext, values: ReadonlyMap<string, string>): Promise<void> {
  const { o, state, phases } = ctx;
  const plan = backupPlan(o.model, o.mac, values);
  if (!plan) return;
  const record = (
    phase: 'restore' | 'backup',
    t0: number,
    r: { ok: boolean; bytes: number; url?: string; error?: string },
    file: string,
    protocol: string,
  ) => {
    const rec: PhaseRecord = {
      phase,
      file,
      protocol,
      bytes: r.bytes,
      ms: round(performance.now() - t0),
      ok: r.ok,
      at: phases.at(t0),
      retransmits: 0,
      ...(r.url ? { url: r.url } : {}),
    };
    if (!r.ok && r.error) rec.error = r.error;
    phases.add(rec);
  };
  if ('error' in plan) {
    phases.begin('backup');
    record('backup', performance.now(), { ok: false, bytes: 0, error: plan.error }, 'BRURI', 'http');
    return;
  }
  const allowed = o.fetch?.protocols;
  if (allowed && allowed.length > 0 && !allowed.includes(plan.protocol)) return;
  const fetch = o.fetch ?? {};
  const last = state.backup;
  if (last && last.file === plan.file) {
    phases.begin('restore');
    const t0 = performance.now();
    const r = await backupRequest(plan, 'GET', undefined, o.model, fetch, o.backupCredentials);
    if (r.ok && sha256(r.body ?? Buffer.alloc(0)) !== last.sha256) {
      r.ok = false;
      r.error =
        `${r.url}: the data restored are not those of the last backup ` +
        `(${r.bytes} bytes, backup ${last.seq} had ${last.bytes})`;
    }
    record('restore', t0, r, plan.file, plan.protocol);
  }
  phases.begin('backup');
  const seq = (last?.seq ?? 0) + 1;
  const data = backupData(o.model, o.mac, seq);
  const t0 = performance.now();
  const r = await backupRequest(plan, 'PUT', data, o.model, fetch, o.backupCredentials);
  record('backup', t0, r, plan.file, plan.protocol);
  // Acknowledged (2xx): the server promises to have it; the next boot restores it.
  if (r.ok) state.backup = { file: plan.file, sha256: sha256(data), bytes: data.length, seq };
}
