/**
 * One phone's boot, as its manual describes it: DHCP, the script or provisioning file from the file
 * servers in the model's order, the application image only when it differs from what the phone runs
 * (checked as it streams in, never "burnt" when wrong), then the settings. Used by `bootwire boot` for
 * one phone and by the storm for hundreds; the per-family rules live in src/phones (pure), this module
 * only drives the network through them.
 */
import type { DoraClient, DoraResult } from '@bootwire/dhcp';
import { parseAudiocodesCfg, checkCfgModel } from '../phones/audiocodes-cfg.js';
import { parseProvisioningUrl } from '../phones/audiocodes-url.js';
import { runAvayaScriptAsync } from '../phones/avaya-script.js';
import { type FilePlan, type FileServer, planFileServers, sip1200ImageServer } from '../phones/file-plan.js';
import { ImageVerifier, IMAGE_HEADER_BYTES, decodeImageHeader } from '../phones/image-header.js';
import { decideImage, type RunningImage } from '../phones/image-policy.js';
import { dhcpIdentity, type PhoneModel, scriptVariables, settingsFileFor } from '../phones/models.js';
import { fwDirective, hasUserConfig, parseSip1200Provisioning, sectionFiles } from '../phones/sip1200-config.js';
import { backupData, backupPlan, backupRequest, sha256 } from './backup.js';
import { type FetchContext, type FetchOutcome, fetchFile, restrictProtocols } from './fetch.js';
import type { PhoneState, PhoneStateStore } from './state.js';

export type Phase = 'dhcp' | 'script' | 'image' | 'settings' | 'restore' | 'backup';

export interface PhaseRecord {
  phase: Phase;
  /** File name (or, for DHCP, the address leased). */
  file: string;
  protocol: string;
  bytes: number;
  ms: number;
  ok: boolean;
  /** Milliseconds from the start of the boot. */
  at: number;
  /** The file is optional and no server had it: the phone went on without it. */
  skipped?: boolean;
  retransmits: number;
  url?: string;
  error?: string;
}

export interface BootReport {
  model: string;
  mac: string;
  ok: boolean;
  imageDownloaded: boolean;
  /** Why the image was or was not downloaded. */
  imageDecision?: string;
  phases: PhaseRecord[];
  error?: string;
  /** Milliseconds, start to end. */
  ms: number;
  address?: string;
  retransmits: number;
  bytes: number;
  /** The phase the boot failed in. */
  failedIn?: Phase;
}

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

class BootFailure extends Error {
  constructor(
    readonly phase: Phase,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown from a download's data callback to stop it (the phone read a header it does not want). */
class StopDownload extends Error {}

export async function bootPhone(o: BootOptions): Promise<BootReport> {
  const started = performance.now();
  const phases: PhaseRecord[] = [];
  const report: BootReport = { model: o.model.name, mac: o.mac, ok: false, imageDownloaded: false, phases, ms: 0, retransmits: 0, bytes: 0 };
  let state: PhoneState | undefined;
  try {
    state = await o.state.load(o.mac);
    const plan = await planOf(o, phases, started, state, report);
    const from = o.bindToLease && report.address ? { ...o, fetch: { ...o.fetch, localAddress: report.address } } : o;
    await runFlow(from, plan, state, phases, started, report);
    report.ok = true;
  } catch (e) {
    report.error = (e as Error).message;
    if (e instanceof BootFailure) report.failedIn = e.phase;
    // The lease is kept even when the files fail, as a phone keeps it: the next boot asks for it again.
    if (state && report.address) await o.state.save(o.mac, state).catch(() => undefined);
  }
  report.ms = round(performance.now() - started);
  for (const p of phases) {
    report.retransmits += p.retransmits;
    report.bytes += p.bytes;
  }
  return report;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** Marks the last attempt at an optional file, which its server did not have, as skipped (not a failure). */
function skipNotFound(phases: PhaseRecord[], file: string): void {
  const last = phases[phases.length - 1];
  if (last && last.file === file && !last.ok) last.skipped = true;
}

async function planOf(o: BootOptions, phases: PhaseRecord[], started: number, state: PhoneState, report: BootReport): Promise<FilePlan> {
  const model = o.model;
  if (o.server !== undefined) return planFromUrl(model, o.mac, o.server);
  if (!o.dhcp) throw new BootFailure('dhcp', 'no DHCP client and no --server: the phone has nowhere to ask');
  o.onPhase?.('dhcp');
  const t0 = performance.now();
  const identity = dhcpIdentity(model, o.mac);
  if (state.address) identity.previousAddress = state.address;
  const r: DoraResult = await o.dhcp.dora(identity, { requireLeaseTime: model.dhcp.requireLeaseTime });
  const rec: PhaseRecord = { phase: 'dhcp', file: r.ok ? r.lease.address : '', protocol: 'dhcp', bytes: 0, ms: round(performance.now() - t0), ok: r.ok, at: round(t0 - started), retransmits: r.ok ? r.lease.retransmits : r.retransmits };
  phases.push(rec);
  if (!r.ok) {
    rec.error = r.error;
    throw new BootFailure('dhcp', `DHCP: ${r.error}`);
  }
  report.address = r.lease.address;
  state.address = r.lease.address;
  const plan = planFileServers(model, r.lease.ack, { mac: o.mac });
  if (plan.servers.length === 0) throw new BootFailure('script', `the DHCP answer names no file server a ${model.name} reads (${plan.warnings.join('; ') || 'no option it looks at'})`);
  return plan;
}

/** `--server URL`: the phone told where its files are, as an administrator types it into the phone. */
export function planFromUrl(model: PhoneModel, mac: string, url: string): FilePlan {
  if (model.files.format === 'audiocodes-url') {
    const r = parseProvisioningUrl(url, { model: model.name, mac });
    if (!r.ok) throw new BootFailure('script', `--server ${url}: ${r.error}`);
    const u = r.url;
    return {
      model: model.name,
      family: model.family,
      servers: [{ protocol: u.protocol, host: u.host, port: u.port, pathPrefix: u.directory, source: '--server', ...(u.user !== undefined ? { credentials: { user: u.user, password: u.password ?? '' } } : {}) }],
      noTftpAfterHttp: false,
      files: { image: u.image, config: u.config },
      callServer: { addresses: [], sipControllers: [] },
      parameters: [],
      warnings: r.warnings,
    };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BootFailure('script', `--server ${JSON.stringify(url)} is not a URL such as tftp://127.0.0.1:6969/ or http://127.0.0.1:8080/`);
  }
  const protocol = u.protocol.slice(0, -1);
  if (protocol !== 'tftp' && protocol !== 'http' && protocol !== 'https' && protocol !== 'ftp') throw new BootFailure('script', `--server ${url}: expected tftp://, http://, https:// or ftp://`);
  const port = u.port ? Number(u.port) : { tftp: 69, http: 80, https: 443, ftp: 21 }[protocol];
  const dir = decodeURIComponent(u.pathname).split('/').filter((s) => s && s !== '.' && s !== '..');
  const login = u.username ? { credentials: { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } } : {};
  const server: FileServer = { protocol, host: u.hostname.replace(/^\[|\]$/g, ''), port, pathPrefix: dir.length ? `${dir.join('/')}/` : '', source: '--server', ...login };
  return {
    model: model.name,
    family: model.family,
    servers: [server],
    noTftpAfterHttp: model.protocols.noTftpAfterHttp,
    files: model.files.script !== undefined ? { script: model.files.script } : {},
    callServer: { addresses: [], sipControllers: [] },
    parameters: [],
    warnings: [],
  };
}

/**
 * BRURI (1600, 96xx): restore what the last boot backed up (from the second boot on), then back up
 * (src/boot/backup.ts). Failures are recorded as failed phases; the phone carries on, as its guide
 * says ("Retrieval failed"), so the boot does not fail. Kept to the allowed protocols (storm
 * --protocols): a storm kept on TFTP makes no backups.
 */
async function backupAndRestore(o: BootOptions, values: ReadonlyMap<string, string>, state: PhoneState, phases: PhaseRecord[], started: number): Promise<void> {
  const plan = backupPlan(o.model, o.mac, values);
  if (!plan) return;
  const record = (phase: 'restore' | 'backup', t0: number, r: { ok: boolean; bytes: number; url?: string; error?: string }, file: string, protocol: string) => {
    const rec: PhaseRecord = { phase, file, protocol, bytes: r.bytes, ms: round(performance.now() - t0), ok: r.ok, at: round(t0 - started), retransmits: 0, ...(r.url ? { url: r.url } : {}) };
    if (!r.ok && r.error) rec.error = r.error;
    phases.push(rec);
  };
  if ('error' in plan) {
    o.onPhase?.('backup');
    record('backup', performance.now(), { ok: false, bytes: 0, error: plan.error }, 'BRURI', 'http');
    return;
  }
  const allowed = o.fetch?.protocols;
  if (allowed && allowed.length > 0 && !allowed.includes(plan.protocol)) return;
  const ctx = o.fetch ?? {};
  const last = state.backup;
  if (last && last.file === plan.file) {
    o.onPhase?.('restore');
    const t0 = performance.now();
    const r = await backupRequest(plan, 'GET', undefined, o.model, ctx, o.backupCredentials);
    if (r.ok && sha256(r.body ?? Buffer.alloc(0)) !== last.sha256) {
      r.ok = false;
      r.error = `${r.url}: the data restored are not those of the last backup (${r.bytes} bytes, backup ${last.seq} had ${last.bytes})`;
    }
    record('restore', t0, r, plan.file, plan.protocol);
  }
  o.onPhase?.('backup');
  const seq = (last?.seq ?? 0) + 1;
  const data = backupData(o.model, o.mac, seq);
  const t0 = performance.now();
  const r = await backupRequest(plan, 'PUT', data, o.model, ctx, o.backupCredentials);
  record('backup', t0, r, plan.file, plan.protocol);
  // Acknowledged (2xx): the server promises to have it; the next boot restores it.
  if (r.ok) state.backup = { file: plan.file, sha256: sha256(data), bytes: data.length, seq };
}

/** The servers a phone tries, in order, for each file; the one that answered is tried first next time. */
class ServerChoice {
  private preferred: FileServer | undefined;
  private httpWorked = false;
  constructor(
    private readonly servers: readonly FileServer[],
    private readonly noTftpAfterHttp: boolean,
  ) {}
  order(): FileServer[] {
    const rest = this.servers.filter((s) => s !== this.preferred);
    const all = this.preferred ? [this.preferred, ...rest] : rest;
    return this.noTftpAfterHttp && this.httpWorked ? all.filter((s) => s.protocol !== 'tftp') : all;
  }
  worked(s: FileServer): void {
    this.preferred = s;
    if (s.protocol === 'http' || s.protocol === 'https') this.httpWorked = true;
  }
}

async function runFlow(o: BootOptions, plan: FilePlan, state: PhoneState, phases: PhaseRecord[], started: number, report: BootReport): Promise<void> {
  const model = o.model;
  const choice = new ServerChoice(plan.servers, plan.noTftpAfterHttp);

  /** Fetches from the servers in order; records one phase entry per attempt. */
  const get = async (phase: Phase, file: string, keep: boolean, servers = choice.order(), onData?: (c: Buffer) => void, stopped?: () => boolean): Promise<FetchOutcome & { server?: FileServer }> => {
    let last: (FetchOutcome & { server?: FileServer }) | undefined;
    for (const server of restrictProtocols(servers, o.fetch?.protocols)) {
      o.onPhase?.(phase);
      const t0 = performance.now();
      const r = await fetchFile(server, model, { file, keep, ...(onData ? { onData } : {}), ...(phase === 'image' ? { deadlineMs: model.tftp.imageDeadlineMs ?? 600_000 } : {}) }, o.fetch);
      const rec: PhaseRecord = { phase, file, protocol: server.protocol, bytes: r.bytes, ms: r.ms, ok: r.ok, at: round(t0 - started), retransmits: r.retransmits, url: r.url };
      if (!r.ok) rec.error = r.error;
      phases.push(rec);
      if (r.ok) {
        choice.worked(server);
        return { ...r, server };
      }
      last = { ...r, server };
      if (stopped?.()) break; // the phone stopped the download itself
    }
    return last ?? { ok: false, bytes: 0, ms: 0, retransmits: 0, error: 'no file server to try', url: file, notFound: false };
  };

  const running: RunningImage = state.image ? { name: state.image.name, ...(state.image.version ? { version: state.image.version } : {}) } : {};

  /** Downloads and checks an image; "burns" it (records it in the state) only when it is whole and right. */
  const image = async (file: string, servers: FileServer[] | undefined, decideOnHeader: boolean, offered: { version?: string }): Promise<void> => {
    let verifier = new ImageVerifier({ model: model.name });
    let head = Buffer.alloc(0);
    let stopReason: string | undefined;
    let rejected = false;
    const onData = (c: Buffer) => {
      verifier.update(c);
      if (verifier.failed) {
        // A phone stops a download whose header it refuses; only a bad digest waits for the end.
        rejected = true;
        throw new StopDownload(verifier.failed.message);
      }
      if (!decideOnHeader || head.length >= IMAGE_HEADER_BYTES) return;
      head = Buffer.concat([head, c.subarray(0, IMAGE_HEADER_BYTES - head.length)]);
      if (head.length < IMAGE_HEADER_BYTES) return;
      // 400HD: the version is in the header; a phone that already runs it stops here.
      const h = decodeImageHeader(head);
      if (!h.ok) return; // the verifier reports it at the end
      const v = decideImage(model, running, { name: file, version: h.header.version });
      report.imageDecision = v.reason;
      if (!v.download) {
        stopReason = v.reason;
        throw new StopDownload(v.reason);
      }
    };
    const attempt = async (list: FileServer[] | undefined) => {
      verifier = new ImageVerifier({ model: model.name });
      head = Buffer.alloc(0);
      return get('image', file, false, list ?? choice.order(), onData, () => stopReason !== undefined || rejected);
    };
    const r = await attempt(servers);
    if (stopReason !== undefined) {
      // Not downloaded: the phase entry stays (the header was read), marked as a stop, not a failure.
      const rec = phases[phases.length - 1]!;
      rec.ok = true;
      delete rec.error;
      return;
    }
    if (!r.ok && !rejected) throw new BootFailure('image', `image ${file}: ${r.error}`);
    const verdict = verifier.finish();
    if (!verdict.ok) {
      const rec = phases[phases.length - 1]!;
      rec.ok = false;
      rec.error = `${verdict.error.code}: ${verdict.error.message}`;
      throw new BootFailure('image', `image ${file} is not fit to burn (${verdict.error.code}): ${verdict.error.message}; the phone keeps ${running.name ?? 'its current software'}`);
    }
    report.imageDownloaded = true;
    state.image = { name: file, version: offered.version ?? verdict.header.version };
    await o.state.save(o.mac, state);
  };

  switch (model.files.format) {
    case 'avaya-script': {
      const scriptName = plan.files.script ?? model.files.script!;
      const script = await get('script', scriptName, true);
      if (!script.ok) throw new BootFailure('script', `script ${scriptName}: ${script.error}`);
      const dialect = model.script!.dialect;
      const variables = scriptVariables(model, o.mac);
      // First pass, as the phone reads the script before it (re)starts: which application it must run.
      // GETs are answered later, once the right application runs (the phone reboots into it first).
      const dry = await runAvayaScriptAsync({ name: scriptName, text: script.body! }, { dialect, variables }, async () => undefined);
      if (dry.appName) {
        const v = decideImage(model, running, { name: dry.appName });
        report.imageDecision = v.reason;
        if (v.download) {
          await image(dry.appName, undefined, false, {});
          // Rebooted into the new application: the script is read again.
          const again = await get('script', scriptName, true);
          if (!again.ok) throw new BootFailure('script', `script ${scriptName} after the upgrade: ${again.error}`);
        }
      }
      const result = await runAvayaScriptAsync({ name: scriptName, text: script.body! }, { dialect, variables }, async (file) => {
        const r = await get('settings', file, true);
        if (!r.ok && r.notFound) skipNotFound(phases, file); // the script goes on without it
        return r.ok ? r.body : undefined;
      });
      if (!result.completed) throw new BootFailure('settings', `script ${scriptName} did not complete (${result.warnings.at(-1)?.message ?? 'limit reached'})`);
      await backupAndRestore(o, result.values, state, phases, started);
      break;
    }
    case 'sip1200-provisioning': {
      const name = plan.files.script ?? model.files.script!;
      const prov = await get('script', name, true);
      if (!prov.ok) throw new BootFailure('script', `provisioning file ${name}: ${prov.error}`);
      const file = parseSip1200Provisioning(prov.body!);
      const fw = fwDirective(file);
      if (fw) {
        const v = decideImage(model, running, { name: fw.filename, version: fw.version, mode: fw.mode });
        report.imageDecision = v.reason;
        if (v.download) await image(fw.filename, [sip1200ImageServer(fw, prov.server!)], false, { version: fw.version });
      }
      // Other sections name configuration files, fetched from the provisioning server.
      for (const s of file.sections) {
        if (s.name === 'FW' || s.name === 'USER_CONFIG') continue;
        for (const f of sectionFiles(s)) {
          const r = await get('settings', f.value, true, [prov.server!]);
          if (!r.ok) throw new BootFailure('settings', `${f.value} (named in [${s.name}] of ${name}, line ${f.line}): ${r.error}`);
        }
      }
      if (hasUserConfig(file)) {
        const user = settingsFileFor(model, o.mac);
        const r = await get('settings', user, true, [prov.server!]);
        if (!r.ok && !r.notFound) throw new BootFailure('settings', `${user}: ${r.error}`);
        if (!r.ok) skipNotFound(phases, user);
      }
      break;
    }
    case 'audiocodes-url': {
      const img = plan.files.image!;
      await image(img, undefined, true, {});
      const cfgName = plan.files.config!;
      const cfg = await get('settings', cfgName, true);
      // The manual: "if a configuration file is available on the server, the phone downloads it".
      // None on any server is a skipped phase, as a missing Avaya settings file is; any other failure fails.
      if (!cfg.ok && cfg.notFound) {
        skipNotFound(phases, cfgName);
        break;
      }
      if (!cfg.ok) throw new BootFailure('settings', `configuration ${cfgName}: ${cfg.error}`);
      const check = checkCfgModel(parseAudiocodesCfg(cfg.body!), model.name);
      if (!check.ok) throw new BootFailure('settings', `${cfgName}${check.problem.line ? `:${check.problem.line}` : ''}: ${check.problem.message}`);
      break;
    }
  }
  await o.state.save(o.mac, state);
}
