/**
 * Where a phone finds its files: from its DHCP answer (the DHCP phase), or from a URL typed into the
 * phone (`--server`). Failures are results naming the phase, as the report gives them.
 */
import type { DoraResult } from '@bootwire/dhcp';
import { parseProvisioningUrl } from '../phones/audiocodes-url.js';
import { type FilePlan, type FileServer, planFileServers } from '../phones/file-plan.js';
import { dhcpIdentity, type PhoneModel } from '../phones/models.js';
import type { BootOptions } from './boot-phone.js';
import { type BootReport, type PhaseRecord, type PhaseRecorder, round, type StepResult } from './phases.js';
import type { PhoneState } from './state.js';

export type PlanResult = { ok: true; plan: FilePlan } | Extract<StepResult, { ok: false }>;

const noPlan = (phase: 'dhcp' | 'script', error: string): PlanResult => ({ ok: false, phase, error });

/** The phone's file servers: from `--server`, or from the lease DHCP gives it (recorded, and kept in `state`). */
export async function planOf(
  o: BootOptions,
  phases: PhaseRecorder,
  state: PhoneState,
  report: BootReport,
): Promise<PlanResult> {
  const model = o.model;
  if (o.server !== undefined) {
    const r = readServerUrl(model, o.mac, o.server);
    return r.ok ? r : noPlan('script', r.error);
  }
  if (!o.dhcp) return noPlan('dhcp', 'no DHCP client and no --server: the phone has nowhere to ask');
  phases.begin('dhcp');
  const t0 = performance.now();
  const identity = dhcpIdentity(model, o.mac);
  if (state.address) identity.previousAddress = state.address;
  const r: DoraResult = await o.dhcp.dora(identity, { requireLeaseTime: model.dhcp.requireLeaseTime });
  const rec: PhaseRecord = {
    phase: 'dhcp',
    file: r.ok ? r.lease.address : '',
    protocol: 'dhcp',
    bytes: 0,
    ms: round(performance.now() - t0),
    ok: r.ok,
    at: phases.at(t0),
    retransmits: r.ok ? r.lease.retransmits : r.retransmits,
  };
  phases.add(rec);
  if (!r.ok) {
    rec.error = r.error;
    return noPlan('dhcp', `DHCP: ${r.error}`);
  }
  report.address = r.lease.address;
  state.address = r.lease.address;
  const plan = planFileServers(model, r.lease.ack, { mac: o.mac });
  if (plan.servers.length === 0)
    return noPlan(
      'script',
      `the DHCP answer names no file server a ${model.name} reads ` +
        `(${plan.warnings.join('; ') || 'no option it looks at'})`,
    );
  return { ok: true, plan };
}

/**
 * `--server URL`: the phone told where its files are, as an administrator types it into the phone.
 * Throws an Error saying why a URL is unusable.
 */
export function planFromUrl(model: PhoneModel, mac: string, url: string): FilePlan {
  const r = readServerUrl(model, mac, url);
  if (!r.ok) throw new Error(r.error);
  return r.plan;
}

function readServerUrl(
  model: PhoneModel,
  mac: string,
  url: string,
): { ok: true; plan: FilePlan } | { ok: false; error: string } {
  if (model.files.format === 'audiocodes-url') {
    const r = parseProvisioningUrl(url, { model: model.name, mac });
    if (!r.ok) return { ok: false, error: `--server ${url}: ${r.error}` };
    const u = r.url;
    const plan: FilePlan = {
      model: model.name,
      family: model.family,
      servers: [
        {
          protocol: u.protocol,
          host: u.host,
          port: u.port,
          pathPrefix: u.directory,
          source: '--server',
          ...(u.user !== undefined ? { credentials: { user: u.user, password: u.password ?? '' } } : {}),
        },
      ],
      noTftpAfterHttp: false,
      files: { image: u.image, config: u.config },
      callServer: { addresses: [], sipControllers: [] },
      parameters: [],
      warnings: r.warnings,
    };
    return { ok: true, plan };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return {
      ok: false,
      error: `--server ${JSON.stringify(url)} is not a URL such as tftp://127.0.0.1:6969/ or http://127.0.0.1:8080/`,
    };
  }
  const protocol = u.protocol.slice(0, -1);
  if (protocol !== 'tftp' && protocol !== 'http' && protocol !== 'https' && protocol !== 'ftp')
    return { ok: false, error: `--server ${url}: expected tftp://, http://, https:// or ftp://` };
  const port = u.port ? Number(u.port) : { tftp: 69, http: 80, https: 443, ftp: 21 }[protocol];
  const dir = decodeURIComponent(u.pathname)
    .split('/')
    .filter((s) => s && s !== '.' && s !== '..');
  const login = u.username
    ? { credentials: { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } }
    : {};
  const server: FileServer = {
    protocol,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    pathPrefix: dir.length ? `${dir.join('/')}/` : '',
    source: '--server',
    ...login,
  };
  const plan: FilePlan = {
    model: model.name,
    family: model.family,
    servers: [server],
    noTftpAfterHttp: model.protocols.noTftpAfterHttp,
    files: model.files.script !== undefined ? { script: model.files.script } : {},
    callServer: { addresses: [], sipControllers: [] },
    parameters: [],
    warnings: [],
  };
  return { ok: true, plan };
}
