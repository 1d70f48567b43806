/**
 * The AudioCodes 400HD provisioning URL (DHCP option 160, or 66+67, or 43), from reference/phones.md
 * ("AudioCodes 400HD"): `proto://host[/firmware.img][;config.cfg]`, with `<MODEL>` and `<MAC>` macros;
 * the defaults are `<model>.img` and `<MAC>.cfg`; no protocol means TFTP. Only `.img` firmware and
 * `.cfg` configuration files are accepted (seeds/004_ca410a240168c769.txt).
 *
 * bootwire's reading of the details the sources leave open (unverified): a path may have directories
 * (`http://h/phones/440HD.img`), which also hold the configuration file; a path without `.img` at the
 * end is a directory; the macros are case-insensitive; `<MAC>` is 12 lower-case hex digits.
 */
import { expandTemplate, type FileProtocol, type MacFormat } from './models.js';

export interface ProvisioningUrl {
  readonly protocol: FileProtocol;
  readonly host: string;
  readonly port: number;
  /** Directory below the server root, '' or ending in '/' (no leading '/'). */
  readonly directory: string;
  /** The firmware file name (macros expanded), within `directory`. */
  readonly image: string;
  /** The configuration file name (macros expanded), within `directory`. */
  readonly config: string;
  /** The image/config names came from the URL (false: the defaults). */
  readonly imageGiven: boolean;
  readonly configGiven: boolean;
  readonly user?: string;
  readonly password?: string;
}

export type ProvisioningUrlResult =
  | { readonly ok: true; readonly url: ProvisioningUrl; readonly warnings: string[] }
  | { readonly ok: false; readonly error: string };

export const DEFAULT_PORTS: Readonly<Record<FileProtocol, number>> = { tftp: 69, http: 80, https: 443, ftp: 21 };

export const DEFAULT_400HD_IMAGE = '<MODEL>.img';
export const DEFAULT_400HD_CONFIG = '<MAC>.cfg';
export const MAC_FORMAT_400HD: MacFormat = 'hex-lower';

/**
 * Parses a provisioning URL for one phone (`model` = `440HD`, `mac` for `<MAC>`). Never throws; a URL
 * the phone could not use is `{ ok: false, error }`.
 */
export function parseProvisioningUrl(text: string, phone: { model: string; mac?: string }): ProvisioningUrlResult {
  const warnings: string[] = [];
  const raw = text.replace(/\0+$/, '').trim();
  if (raw === '') return { ok: false, error: 'empty provisioning URL' };
  if (raw.length > 1024) return { ok: false, error: `provisioning URL of ${raw.length} characters` };
  if (/[\s\0]/.test(raw))
    return { ok: false, error: `provisioning URL ${JSON.stringify(raw.slice(0, 80))} contains white space or NUL` };
  let rest = raw;
  let protocol: FileProtocol = 'tftp';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (scheme) {
    const p = scheme[1]!.toLowerCase();
    if (p !== 'tftp' && p !== 'http' && p !== 'https' && p !== 'ftp')
      return { ok: false, error: `unsupported protocol ${JSON.stringify(p)} (tftp, http, https, ftp)` };
    protocol = p;
    rest = rest.slice(scheme[0].length);
  }
  // Split the configuration part first: `;` ends the firmware part.
  const semi = rest.indexOf(';');
  const configPart = semi >= 0 ? rest.slice(semi + 1) : undefined;
  if (semi >= 0) rest = rest.slice(0, semi);
  const slash = rest.indexOf('/');
  let authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : '';
  let user: string | undefined;
  let password: string | undefined;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const cred = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = cred.indexOf(':');
    user = colon >= 0 ? cred.slice(0, colon) : cred;
    if (colon >= 0) password = cred.slice(colon + 1);
  }
  const hp = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/.exec(authority);
  if (!hp) return { ok: false, error: `bad host ${JSON.stringify(authority)}` };
  const host = hp[1]!.replace(/^\[|\]$/g, '');
  const port = hp[2] !== undefined ? Number(hp[2]) : DEFAULT_PORTS[protocol];
  if (port < 1 || port > 65535) return { ok: false, error: `bad port ${hp[2]}` };
  const expand = (s: string) => expandTemplate(s, phone.model, phone.mac, MAC_FORMAT_400HD);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return { ok: false, error: `bad %-escape in ${JSON.stringify(path)}` };
  }
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { ok: false, error: `".." in ${JSON.stringify(path)}` };
  let imageName: string | undefined;
  if (segments.length > 0 && /\.img$/i.test(segments[segments.length - 1]!)) imageName = segments.pop();
  else if (segments.length > 0 && !decoded.endsWith('/') && /\.[A-Za-z0-9]+$/.test(segments[segments.length - 1]!)) {
    return { ok: false, error: `firmware file ${JSON.stringify(segments[segments.length - 1])} does not end in .img` };
  }
  const directory = segments.length > 0 ? `${segments.map(expand).join('/')}/` : '';
  let configName: string | undefined;
  if (configPart !== undefined && configPart !== '') {
    if (configPart.includes('/') || configPart === '..')
      return { ok: false, error: `configuration file ${JSON.stringify(configPart)} must be a file name` };
    if (!/\.cfg$/i.test(configPart))
      return { ok: false, error: `configuration file ${JSON.stringify(configPart)} does not end in .cfg` };
    configName = configPart;
  }
  if (phone.mac === undefined && /<mac>/i.test(`${imageName ?? ''};${configName ?? DEFAULT_400HD_CONFIG}`))
    warnings.push('<MAC> left unexpanded: no MAC given');
  const url: ProvisioningUrl = {
    protocol,
    host,
    port,
    directory,
    image: expand(imageName ?? DEFAULT_400HD_IMAGE),
    config: expand(configName ?? DEFAULT_400HD_CONFIG),
    imageGiven: imageName !== undefined,
    configGiven: configName !== undefined,
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
  return { ok: true, url, warnings };
}
