/**
 * The Avaya 1600 and 96xx/96x1 backup and restore of user data over HTTP(S), as their administrator
 * guides describe it ("Backup/Restore"):
 * - with BRURI set (46xxsettings.txt), user data go to `ext_16xxdata.txt` (1600) or `ext_96xxdata.txt`
 *   (9600), ext being the phone's extension (NVPHONEXT), with an HTTP PUT; a restore GETs the same
 *   name; the URI is BRURI with the name appended ("If BRURI ends with / … the file name is appended.
 *   Otherwise, a forward slash is appended … then the file name");
 * - backup at logout or when the user changes data, restore at login; a failed restore shows
 *   "Retrieval failed" and the phone carries on with its settings: neither fails a boot;
 * - HTTP authentication (BRAUTH; credentials the user enters when prompted): Basic credentials;
 * - "Only one backup or restore attempt is made for each request" (B189 guide): no retries.
 *
 * The simulation: a phone backs up after each boot and, from its second boot on, restores first what
 * it backed up last, checking the bytes (state.ts remembers their digest). The extension and the
 * data file's contents are made up (unverified): the extension is 2000 + the MAC's last two bytes
 * modulo 8000, the data a few `name=value` lines (contacts, labels, options) in the guides' format.
 */
import { createHash } from 'node:crypto';
import { httpGet, HttpClientError } from '@bootwire/http';
import type { FileServer } from '../phones/file-plan.js';
import type { PhoneModel } from '../phones/models.js';
import type { FetchContext } from './fetch.js';

export interface BackupPlan {
  /** The URL of the data file. */
  url: URL;
  file: string;
  protocol: 'http' | 'https';
  /** Send credentials with the first request (BRAUTH=1); otherwise only after a 401. */
  sendAuth: boolean;
}

/** NVPHONEXT of a simulated phone: `2000`–`9999` from the MAC's last two bytes. */
export function phoneExtension(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '');
  return String(2000 + (parseInt(hex.slice(-4), 16) % 8000));
}

/** `299_16xxdata.txt` / `299_96xxdata.txt` (the model's `files.backup`); undefined for models without backup. */
export function backupFileName(model: PhoneModel, ext: string): string | undefined {
  return model.files.backup?.replace('<EXT>', ext);
}

/** The backup URL from BRURI and the file name, or an error when BRURI is no http(s) URL. */
export function backupPlan(
  model: PhoneModel,
  mac: string,
  values: ReadonlyMap<string, string>,
): BackupPlan | { error: string } | undefined {
  const brUri = values.get('BRURI')?.trim();
  if (!brUri) return undefined;
  const file = backupFileName(model, phoneExtension(mac));
  if (!file) return undefined;
  let url: URL;
  try {
    url = new URL(brUri.endsWith('/') ? `${brUri}${file}` : `${brUri}/${file}`);
  } catch {
    return { error: `BRURI ${JSON.stringify(brUri.slice(0, 80))} is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { error: `BRURI ${JSON.stringify(brUri.slice(0, 80))}: backups go over HTTP or HTTPS` };
  return {
    url,
    file,
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    sendAuth: values.get('BRAUTH')?.trim() === '1',
  };
}

/** The user data a phone backs up on its `seq`-th backup (changes each time, so a restore proves which). */
export function backupData(model: PhoneModel, mac: string, seq: number): Buffer {
  const ext = phoneExtension(mac);
  const lines = [
    'ABKNAME001=Reception',
    'ABKNUMBER001=2000',
    `ABKNAME002=Desk ${ext}`,
    `ABKNUMBER002=${ext}`,
    `ABKNAME003=Backup ${seq}`,
    `ABKNUMBER003=${9000 + (seq % 1000)}`,
    `PHNLABEL01=${ext}`,
    'OPTCLICKS=1',
    'LOGACTIVE=1',
    `PERSONALRING=${1 + (seq % 8)}`,
  ];
  void model;
  return Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface BackupExchange {
  ok: boolean;
  status?: number;
  bytes: number;
  body?: Buffer;
  error?: string;
  url: string;
}

/**
 * One GET or PUT of the data file, through the simulation's redirect (BRURI names the site's
 * address). A 401 is answered once with the phone's credentials, as a user typing them at the prompt.
 */
export async function backupRequest(
  plan: BackupPlan,
  method: 'GET' | 'PUT',
  body: Buffer | undefined,
  model: PhoneModel,
  ctx: FetchContext,
  credentials: { user: string; password: string } | undefined,
): Promise<BackupExchange> {
  const u = plan.url;
  const port = u.port ? Number(u.port) : plan.protocol === 'https' ? 443 : 80;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const server: FileServer = { protocol: plan.protocol, host, port, pathPrefix: '', source: 'BRURI' };
  const to = ctx.redirect?.(server) ?? { host, port };
  const target = new URL(u.href);
  target.hostname = to.host.includes(':') ? `[${to.host}]` : to.host;
  target.port = String(to.port);
  const shown = u.href;
  const basic = credentials
    ? `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`, 'utf8').toString('base64')}`
    : undefined;
  const attempt = (auth: boolean) =>
    httpGet(target, {
      method,
      ...(body ? { body } : {}),
      headers: {
        ...(auth && basic ? { Authorization: basic } : {}),
        ...(body ? { 'Content-Type': 'text/plain' } : {}),
      },
      timeoutMs: model.http.timeoutMs,
      keepBody: method === 'GET',
      sha256: false,
      maxBytes: 1024 * 1024,
      rejectUnauthorized: ctx.ca !== undefined,
      ...(ctx.ca !== undefined ? { ca: ctx.ca } : {}),
      ...(ctx.localAddress ? { localAddress: ctx.localAddress } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  try {
    let r = await attempt(plan.sendAuth);
    if (r.status === 401 && basic && !plan.sendAuth) r = await attempt(true);
    const ok = r.status >= 200 && r.status < 300;
    const out: BackupExchange = {
      ok,
      status: r.status,
      bytes: method === 'PUT' ? (ok ? (body?.length ?? 0) : 0) : r.bytes,
      url: shown,
    };
    if (r.body) out.body = r.body;
    if (!ok) out.error = `${shown}: HTTP ${r.status}`;
    return out;
  } catch (e) {
    return {
      ok: false,
      bytes: 0,
      url: shown,
      error: e instanceof HttpClientError ? e.message.replace(target.href, shown) : `${shown}: ${(e as Error).message}`,
    };
  }
}
