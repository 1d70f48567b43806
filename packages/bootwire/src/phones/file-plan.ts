/**
 * From a DHCP ACK to the phone's file-server plan: the ordered servers it will try, the names of its
 * first files, the call server, and every parameter the DHCP answer set. Pure: the ACK goes in as a
 * decoded message (src/dhcp/codec's DhcpMessage), read through its typed options.
 *
 * Per family (sources in models.ts `provenance` and docs/phones.md):
 * - Avaya 4600 / 1600 / 9600 SIP: parameters are applied in processing order, the later overriding the
 *   earlier: option 66 (TFTPSRVR, 4600) or siaddr (HTTPSRVR, 1600/96xx), then option 43 with
 *   sub-option 1 "6889" (96xx), then the site-specific option 176/242 (NAME=value list), "processed
 *   after the DHCP fields and standard options". Servers: TLSSRVR (HTTPS, tried first), HTTPSRVR
 *   (HTTP), TFTPSRVR (TFTP, 4600 only), each a comma-separated list tried in order; directories
 *   TLSDIR/HTTPDIR/TFTPDIR; ports TLSPORT (default 411, unverified)/HTTPPORT (80)/69.
 * - Avaya 1200 SIP: option 66, an address (TFTP) or a URL `proto://host[:port][/path]`.
 * - AudioCodes 400HD: option 160 (URL), else 66 (+67 the firmware file name), else 43 (URL).
 */
import { decodeText, type DhcpOptions } from '@bootwire/dhcp';
import { DEFAULT_PORTS, parseProvisioningUrl } from './audiocodes-url.js';
import { expandTemplate, type FileProtocol, formatMac, type PhoneModel } from './models.js';
import type { Sip1200Fw } from './sip1200-config.js';

/** What the plan reads from an ACK. A src/dhcp/codec DhcpMessage fits. */
export interface AckLike {
  readonly options: Pick<DhcpOptions, 'get' | 'decode' | 'raw'>;
  /** The BOOTP next-server field; '0.0.0.0' or absent means none. */
  readonly siaddr?: string;
}

export interface FileServer {
  readonly protocol: FileProtocol;
  readonly host: string;
  readonly port: number;
  /** Prepended to every file name: '' or a directory ending in '/', without a leading '/'. */
  readonly pathPrefix: string;
  /** Where the server came from: `option 242 HTTPSRVR`, `siaddr`, `option 160`, ... */
  readonly source: string;
  /** A login named with the server (`ftp://user:pass@host/`); FTP is anonymous without one. */
  readonly credentials?: { readonly user: string; readonly password: string };
}

export interface CallServer {
  /** MCIPADD (H.323 gatekeepers) or SIP_CONTROLLER_LIST entries, in order. */
  readonly addresses: readonly string[];
  /** MCPORT (H.323, default 1719). */
  readonly port?: number;
  readonly sipControllers: readonly string[];
}

export interface PlanParameter {
  readonly name: string;
  readonly value: string;
  readonly source: string;
}

export interface FilePlan {
  readonly model: string;
  readonly family: PhoneModel['family'];
  /** In the order the phone tries them. Empty: the DHCP answer named no usable file server. */
  readonly servers: readonly FileServer[];
  /** Once an HTTP(S) server has answered, the phone does not try TFTP (4600). */
  readonly noTftpAfterHttp: boolean;
  readonly files: {
    /** The first file: upgrade script or provisioning file (none for the 400HD). */
    readonly script?: string;
    /** 400HD: the firmware file (from the URL, option 67 or `<MODEL>.img`). */
    readonly image?: string;
    /** 400HD: the configuration file (from the URL or `<MAC>.cfg`). */
    readonly config?: string;
  };
  readonly callServer: CallServer;
  /** Every NAME=value the DHCP answer set, in processing order (the last of a name wins). */
  readonly parameters: readonly PlanParameter[];
  readonly warnings: readonly string[];
}

export interface PlanOptions {
  /** The phone's MAC, for `<MAC>` in 400HD URLs. */
  readonly mac?: string;
}

/** TLSPORT's default: port 411 for Avaya HTTPS file downloads (an Avaya interface specification; unverified). */
export const AVAYA_TLS_PORT = 411;

/** The Avaya parameters that name each protocol's file servers: address list, port, directory. */
const SERVER_PARAMETERS: readonly {
  protocol: 'https' | 'http' | 'tftp';
  servers: string;
  port?: string;
  defaultPort: number;
  dir: string;
}[] = [
  { protocol: 'https', servers: 'TLSSRVR', port: 'TLSPORT', defaultPort: AVAYA_TLS_PORT, dir: 'TLSDIR' },
  { protocol: 'http', servers: 'HTTPSRVR', port: 'HTTPPORT', defaultPort: DEFAULT_PORTS.http, dir: 'HTTPDIR' },
  { protocol: 'tftp', servers: 'TFTPSRVR', defaultPort: DEFAULT_PORTS.tftp, dir: 'TFTPDIR' },
];

/** MCPORT's default, the H.225 RAS port, as in reference/phones.md's option 176 example. */
export const AVAYA_MCPORT = 1719;

const isZeroAddress = (a: string | undefined) => a === undefined || a === '' || a === '0.0.0.0';

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** `dir`, `/dir/`, `a/b` → `dir/`, `a/b/`; '' stays ''. */
function dirPrefix(d: string | undefined): string {
  const segs = (d ?? '').split(/[/\\]/).filter((s) => s !== '' && s !== '.' && s !== '..');
  return segs.length ? `${segs.join('/')}/` : '';
}

function port(v: string | undefined, fallback: number, name: string, warnings: string[]): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!/^[0-9]{1,5}$/.test(v) || n < 1 || n > 65535) {
    warnings.push(`${name}=${v} is not a port; using ${fallback}`);
    return fallback;
  }
  return n;
}

/**
 * The plan of `model` for this ACK. Never throws: unusable values become warnings (and are skipped).
 */
export function planFileServers(model: PhoneModel, ack: AckLike, opts: PlanOptions = {}): FilePlan {
  switch (model.files.format) {
    case 'avaya-script':
      return avayaPlan(model, ack);
    case 'sip1200-provisioning':
      return sip1200Plan(model, ack);
    case 'audiocodes-url':
      return audiocodesPlan(model, ack, opts);
  }
}

// -------------------------------------------------------------------------------------------- Avaya

function avayaPlan(model: PhoneModel, ack: AckLike): FilePlan {
  const warnings: string[] = [];
  const parameters: PlanParameter[] = [];
  const set = (name: string, value: string, source: string) => parameters.push({ name, value, source });
  const sson = model.dhcp.siteSpecificOption;
  // Lowest priority first: fileServerSources lists the highest first.
  for (const src of [...model.fileServerSources].reverse()) {
    switch (src) {
      case 'option-66': {
        const v = ack.options.get(66);
        if (v !== undefined) set('TFTPSRVR', v, 'option 66');
        break;
      }
      case 'siaddr':
        if (!isZeroAddress(ack.siaddr)) set('HTTPSRVR', ack.siaddr, 'siaddr');
        break;
      case 'avaya-43': {
        const d = ack.options.get(43);
        if (!d) break;
        if (d.form !== 'avaya') {
          warnings.push('option 43 is not Avaya\'s (sub-option 1 is not "6889"): ignored');
          break;
        }
        for (const s of d.subOptions)
          if (s.code !== 1) set(s.name ?? `OPTION43_${s.code}`, s.text, `option 43.${s.code}`);
        break;
      }
      case 'site-specific': {
        if (sson === undefined) break;
        // The list codec's warnings: text before the first NAME=, white space, address lists over 127.
        const d = ack.options.decode(sson);
        if (!d?.ok) break;
        for (const x of d.warnings) warnings.push(`option ${sson}: ${x}`);
        let tftpSrvrSeen = false;
        for (const [name, value] of d.value.pairs) {
          if (name === 'TFTPSRVR') tftpSrvrSeen = true;
          if (name === 'TFTPDIR' && tftpSrvrSeen)
            warnings.push(`option ${sson}: TFTPDIR comes after TFTPSRVR (the manuals ask for TFTPDIR first)`);
          set(name, value, `option ${sson}`);
        }
        break;
      }
      default:
        break;
    }
  }
  const last = new Map<string, PlanParameter>();
  for (const p of parameters) last.set(p.name, p);
  const val = (n: string) => last.get(n)?.value;
  const from = (n: string) => (last.get(n) ? `${last.get(n)!.source} ${n}` : n);

  const byProtocol: Record<'https' | 'http' | 'tftp', FileServer[]> = { https: [], http: [], tftp: [] };
  for (const p of SERVER_PARAMETERS) {
    const hosts = list(val(p.servers));
    if (hosts.length === 0) continue;
    // TFTP has no port parameter: the phones always use 69.
    const at = p.port === undefined ? p.defaultPort : port(val(p.port), p.defaultPort, p.port, warnings);
    for (const host of hosts) {
      byProtocol[p.protocol].push({
        protocol: p.protocol,
        host,
        port: at,
        pathPrefix: dirPrefix(val(p.dir)),
        source: from(p.servers),
      });
    }
  }
  const servers: FileServer[] = [];
  for (const p of model.protocols.order)
    if (p === 'https' || p === 'http' || p === 'tftp') servers.push(...byProtocol[p]);
  if (byProtocol.tftp.length > 0 && !model.protocols.order.includes('tftp'))
    warnings.push(`TFTPSRVR ignored: the ${model.name} does not use TFTP`);
  if (servers.length === 0) warnings.push(`no file server for the ${model.name} in this DHCP answer`);

  const sipControllers = list(val('SIP_CONTROLLER_LIST'));
  const mc = list(val('MCIPADD'));
  const callServer: CallServer = {
    addresses: mc.length > 0 ? mc : sipControllers,
    ...(mc.length > 0 ? { port: port(val('MCPORT'), AVAYA_MCPORT, 'MCPORT', warnings) } : {}),
    sipControllers,
  };
  return {
    model: model.name,
    family: model.family,
    servers,
    noTftpAfterHttp: model.protocols.noTftpAfterHttp,
    files: model.files.script !== undefined ? { script: model.files.script } : {},
    callServer,
    parameters,
    warnings,
  };
}

// ----------------------------------------------------------------------------------------- 1200 SIP

/** Option 66 of a 1200: an address or name (TFTP), or `proto://[user;pass@]host[:port][/path]`. */
function server66(text: string, warnings: string[]): FileServer | undefined {
  const t = text.trim();
  const m = /^([A-Za-z]+):\/\/(?:([^@/]*)@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(\/.*)?$/.exec(t);
  if (m) {
    const proto = m[1]!.toLowerCase();
    if (proto !== 'tftp' && proto !== 'ftp' && proto !== 'http' && proto !== 'https') {
      warnings.push(`option 66: unsupported protocol ${JSON.stringify(proto)}`);
      return undefined;
    }
    const p = m[4] !== undefined ? Number(m[4]) : DEFAULT_PORTS[proto];
    if (p < 1 || p > 65535) {
      warnings.push(`option 66: bad port ${m[4]}`);
      return undefined;
    }
    // `user;password@` (the 1200 SIP guide's form; `user:password@` accepted too).
    const login = m[2] !== undefined ? /^([^;:]*)[;:](.*)$/.exec(m[2]) : undefined;
    const credentials = login
      ? { credentials: { user: login[1]!, password: login[2]! } }
      : m[2]
        ? { credentials: { user: m[2], password: '' } }
        : {};
    return {
      protocol: proto,
      host: m[3]!.replace(/^\[|\]$/g, ''),
      port: p,
      pathPrefix: dirPrefix(m[5]),
      source: 'option 66',
      ...credentials,
    };
  }
  if (/^[A-Za-z0-9.-]+$/.test(t) && t !== '')
    return { protocol: 'tftp', host: t, port: DEFAULT_PORTS.tftp, pathPrefix: '', source: 'option 66' };
  warnings.push(`option 66 ${JSON.stringify(t.slice(0, 60))} is neither an address nor a URL`);
  return undefined;
}

/**
 * Where a 1200 fetches its [FW] image: PROTOCOL (default TFTP) from SERVER_IP, or from the server the
 * provisioning file came from ("If the address is not specified, the SERVER_IP that is used is the same
 * SERVER_IP that is used to download the provisioning file"), in that server's directory when it is the
 * same server and protocol.
 */
export function sip1200ImageServer(fw: Sip1200Fw, provisioning: FileServer): FileServer {
  const protocol = fw.protocol.toLowerCase() as FileProtocol;
  const host = fw.serverIp ?? provisioning.host;
  const same = host === provisioning.host && protocol === provisioning.protocol;
  return {
    protocol,
    host,
    port: same ? provisioning.port : DEFAULT_PORTS[protocol],
    pathPrefix: same ? provisioning.pathPrefix : '',
    source: `[FW] ${fw.serverIp !== undefined ? 'SERVER_IP' : 'provisioning server'}`,
    ...(fw.user !== undefined
      ? { credentials: { user: fw.user, password: fw.password ?? '' } }
      : same && provisioning.credentials
        ? { credentials: provisioning.credentials }
        : {}),
  };
}

function sip1200Plan(model: PhoneModel, ack: AckLike): FilePlan {
  const warnings: string[] = [];
  const parameters: PlanParameter[] = [];
  const servers: FileServer[] = [];
  const text = ack.options.get(66);
  if (text !== undefined) {
    parameters.push({ name: 'PROVISIONING_SERVER', value: text, source: 'option 66' });
    const s = server66(text, warnings);
    if (s) servers.push(s);
  } else warnings.push(`no option 66: the ${model.name} has no provisioning server`);
  return {
    model: model.name,
    family: model.family,
    servers,
    noTftpAfterHttp: false,
    files: model.files.script !== undefined ? { script: model.files.script } : {},
    callServer: { addresses: [], sipControllers: [] },
    parameters,
    warnings,
  };
}

// ------------------------------------------------------------------------------------------- 400HD

function audiocodesPlan(model: PhoneModel, ack: AckLike, opts: PlanOptions): FilePlan {
  const warnings: string[] = [];
  const parameters: PlanParameter[] = [];
  const phone = { model: model.name, ...(opts.mac !== undefined ? { mac: opts.mac } : {}) };
  const plan = (server: FileServer | undefined, image: string, config: string): FilePlan => ({
    model: model.name,
    family: model.family,
    servers: server ? [server] : [],
    noTftpAfterHttp: false,
    files: { image, config },
    callServer: { addresses: [], sipControllers: [] },
    parameters,
    warnings,
  });
  const fromUrl = (text: string, source: string): FilePlan | undefined => {
    const r = parseProvisioningUrl(text, phone);
    if (!r.ok) {
      warnings.push(`${source}: ${r.error}`);
      return undefined;
    }
    warnings.push(...r.warnings.map((w) => `${source}: ${w}`));
    const u = r.url;
    const credentials = u.user !== undefined ? { credentials: { user: u.user, password: u.password ?? '' } } : {};
    return plan(
      { protocol: u.protocol, host: u.host, port: u.port, pathPrefix: u.directory, source, ...credentials },
      u.image,
      u.config,
    );
  };
  const defaults = () => ({
    image: expandTemplate('<MODEL>.img', model.name, opts.mac, 'hex-lower'),
    config: expandTemplate('<MAC>.cfg', model.name, opts.mac, 'hex-lower'),
  });
  if (opts.mac !== undefined && formatMac(opts.mac, 'hex-lower') === undefined)
    warnings.push(`${JSON.stringify(opts.mac)} is not a MAC address`);

  for (const src of model.fileServerSources) {
    if (src === 'option-160') {
      const text = ack.options.get(160);
      if (text === undefined) continue;
      parameters.push({ name: 'PROVISIONING_URL', value: text, source: 'option 160' });
      const p = fromUrl(text, 'option 160');
      if (p) return p;
    } else if (src === 'option-66') {
      const text = ack.options.get(66);
      if (text === undefined) continue;
      parameters.push({ name: 'TFTP_SERVER', value: text, source: 'option 66' });
      const bootfile = ack.options.get(67);
      if (bootfile !== undefined) parameters.push({ name: 'BOOTFILE', value: bootfile, source: 'option 67' });
      // 66 may itself be a URL; 67 then names the firmware within it.
      const url = /:\/\//.test(text) ? text : `tftp://${text.trim()}`;
      const p = fromUrl(
        bootfile !== undefined && !/\.img$/i.test(url)
          ? `${url.replace(/\/+$/, '')}/${bootfile.replace(/^\/+/, '')}`
          : url,
        'option 66',
      );
      if (p) return p;
    } else if (src === 'option-43-url') {
      // A URL in option 43 is its plain bytes, whatever sub-options they might also parse as.
      const v = ack.options.raw(43);
      if (!v) continue;
      const text = decodeText(v);
      if (!/^[\x20-\x7e]+$/.test(text)) {
        warnings.push('option 43 is not a provisioning URL (not text)');
        continue;
      }
      parameters.push({ name: 'PROVISIONING_URL', value: text, source: 'option 43' });
      const p = fromUrl(text, 'option 43');
      if (p) return p;
    }
  }
  warnings.push(`no provisioning server for the ${model.name} in this DHCP answer`);
  const d = defaults();
  return plan(undefined, d.image, d.config);
}
