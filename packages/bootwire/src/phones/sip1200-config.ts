/**
 * The Avaya 1200 series SIP provisioning file (`1230SIP.cfg`, `12x0SIP.cfg`): a parser, the [FW]
 * directive and the version rule.
 *
 * From reference/phones.md ("Avaya 1200 series SIP"), seeds/003_a89362a191675b29.txt and the 1200 SIP
 * administration guide:
 * - sections `[DEVICE_CONFIG]`, `[FW]`, `[DIALING_PLAN]`, `[LANGUAGE]`, `[IMAGES]`, `[TONES]`,
 *   `[USER_CONFIG]` (which makes the phone fetch `SIP<MAC>.cfg`) and more;
 * - keyword lines `NAME value`: VERSION (mandatory in every section; 6-10 digits, or for [FW] a version
 *   string of up to 19 characters such as `SIP12x004.04.09.00`), DOWNLOAD_MODE AUTO|FORCED (default
 *   AUTO), FILENAME (several allowed in [LANGUAGE] and [TONES]), PROTOCOL TFTP|FTP|HTTP|HTTPS (default
 *   TFTP), SERVER_IP (default: the server of the provisioning file), PROMPT, DELETE_FILES,
 *   SRV_USER_NAME, SRV_USER_PASS;
 * - `#` starts a comment (anything after it); a line of 80 characters or more makes the phone ignore
 *   the rest of the file ("Lines under 80 characters").
 * - AUTO downloads only when VERSION is higher than the stored one; FORCED always.
 */

export const SIP1200_SECTIONS: readonly string[] = [
  'DEVICE_CONFIG',
  'FW',
  'DIALING_PLAN',
  'LANGUAGE',
  'IMAGES',
  'TONES',
  'LICENSING',
  'SEC_POLICY',
  'DEV_CERT',
  'CTL',
  'CRL',
  'USER_KEYS',
  'LOGIN_BANNER',
  'USER_CONFIG',
];

export const SIP1200_KEYWORDS: readonly string[] = [
  'VERSION',
  'DOWNLOAD_MODE',
  'FILENAME',
  'PROTOCOL',
  'SERVER_IP',
  'PROMPT',
  'DELETE_FILES',
  'SRV_USER_NAME',
  'SRV_USER_PASS',
];

/** Lines must be shorter than this; at this length or more the rest of the file is ignored. */
export const SIP1200_MAX_LINE = 80;

export type Sip1200Protocol = 'TFTP' | 'FTP' | 'HTTP' | 'HTTPS';

export interface Sip1200Value {
  readonly value: string;
  readonly line: number;
}

export interface Sip1200Section {
  readonly name: string;
  readonly line: number;
  /** Keyword → its values in order (FILENAME may repeat). */
  readonly keys: ReadonlyMap<string, readonly Sip1200Value[]>;
}

export interface Sip1200Problem {
  readonly line: number;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

export interface Sip1200File {
  readonly sections: readonly Sip1200Section[];
  readonly problems: readonly Sip1200Problem[];
  /** The line at which the phone stopped reading (a line of 80+ characters). */
  readonly truncatedAt?: number;
}

const MAX_PROBLEMS = 500;

/** Parses and validates a provisioning file. Never throws. */
export function parseSip1200Provisioning(input: string | Uint8Array): Sip1200File {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
  const sections: { name: string; line: number; keys: Map<string, Sip1200Value[]> }[] = [];
  const problems: Sip1200Problem[] = [];
  const problem = (line: number, severity: 'error' | 'warning', message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ line, severity, message });
  };
  let truncatedAt: number | undefined;
  let current: (typeof sections)[number] | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    if (raw.length >= SIP1200_MAX_LINE) {
      problem(
        n,
        'error',
        `line of ${raw.length} characters (the phone reads lines under ${SIP1200_MAX_LINE}): the rest of ` +
          `the file is ignored`,
      );
      truncatedAt = n;
      break;
    }
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (line === '') continue;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim().toUpperCase();
      if (!SIP1200_SECTIONS.includes(name)) problem(n, 'warning', `unknown section [${header[1]}]`);
      current = { name, line: n, keys: new Map() };
      sections.push(current);
      continue;
    }
    if (line.startsWith('[')) {
      problem(n, 'error', `malformed section header ${JSON.stringify(line)}`);
      current = undefined;
      continue;
    }
    const m = /^([A-Za-z_]+)\s+(.*)$/.exec(line) ?? /^([A-Za-z_]+)$/.exec(line);
    if (!m) {
      problem(n, 'warning', `not a keyword line: ${JSON.stringify(line)}`);
      continue;
    }
    const key = m[1]!.toUpperCase();
    const value = (m[2] ?? '').trim();
    if (!current) {
      problem(n, 'warning', `${key} outside any section is ignored`);
      continue;
    }
    if (!SIP1200_KEYWORDS.includes(key)) {
      problem(n, 'warning', `unknown keyword ${m[1]}`);
      continue;
    }
    if (value === '') {
      problem(n, 'error', `${key} without a value`);
      continue;
    }
    const list = current.keys.get(key) ?? [];
    if (list.length > 0 && key !== 'FILENAME')
      problem(n, 'warning', `${key} repeated in [${current.name}] (line ${list[0]!.line}); the last one counts`);
    list.push({ value, line: n });
    current.keys.set(key, list);
  }
  for (const s of sections) validateSection(s, problem);
  return { sections, problems, ...(truncatedAt !== undefined ? { truncatedAt } : {}) };
}

function validateSection(
  s: Sip1200Section,
  problem: (line: number, severity: 'error' | 'warning', message: string) => void,
): void {
  const last = (k: string) => s.keys.get(k)?.at(-1);
  const version = last('VERSION');
  if (!version) problem(s.line, 'error', `[${s.name}] has no VERSION (mandatory in every section)`);
  else if (s.name === 'FW') {
    if (!/^[A-Za-z0-9.]{1,19}$/.test(version.value))
      problem(
        version.line,
        'error',
        `[FW] VERSION ${JSON.stringify(version.value)}: expected up to 19 characters like SIP12x004.04.09.00`,
      );
  } else if (!/^[0-9]{6,10}$/.test(version.value))
    problem(version.line, 'error', `VERSION ${JSON.stringify(version.value)}: expected a 6- to 10-digit number`);
  const mode = last('DOWNLOAD_MODE');
  if (mode && !/^(AUTO|FORCED)$/i.test(mode.value))
    problem(mode.line, 'error', `DOWNLOAD_MODE ${JSON.stringify(mode.value)}: expected AUTO or FORCED`);
  const protocol = last('PROTOCOL');
  if (protocol && !/^(TFTP|FTP|HTTP|HTTPS)$/i.test(protocol.value))
    problem(protocol.line, 'error', `PROTOCOL ${JSON.stringify(protocol.value)}: expected TFTP, FTP, HTTP or HTTPS`);
  const server = last('SERVER_IP');
  if (server && /\s/.test(server.value))
    problem(server.line, 'error', `SERVER_IP ${JSON.stringify(server.value)} contains white space`);
  const multi = s.name === 'LANGUAGE' || s.name === 'TONES';
  for (const f of s.keys.get('FILENAME') ?? []) {
    if (!multi && /\s/.test(f.value))
      problem(f.line, 'error', `FILENAME ${JSON.stringify(f.value)} contains white space`);
  }
  if (!s.keys.has('FILENAME') && s.name !== 'USER_CONFIG') problem(s.line, 'error', `[${s.name}] has no FILENAME`);
}

/** The files a section names (FILENAME values; [LANGUAGE]/[TONES] may list several per line). */
export function sectionFiles(s: Sip1200Section): Sip1200Value[] {
  const out: Sip1200Value[] = [];
  for (const f of s.keys.get('FILENAME') ?? [])
    for (const name of f.value.split(/[\s,]+/).filter(Boolean)) out.push({ value: name, line: f.line });
  return out;
}

export interface Sip1200Fw {
  readonly version: string;
  readonly mode: 'AUTO' | 'FORCED';
  readonly filename: string;
  readonly protocol: Sip1200Protocol;
  /** Undefined: the server the provisioning file came from. */
  readonly serverIp?: string;
  /** SRV_USER_NAME / SRV_USER_PASS: the FTP (or HTTP) login for the download; anonymous without. */
  readonly user?: string;
  readonly password?: string;
  readonly line: number;
  readonly filenameLine: number;
}

/** The last [FW] section as a download directive, when it is complete. */
export function fwDirective(file: Sip1200File): Sip1200Fw | undefined {
  const s = [...file.sections].reverse().find((x) => x.name === 'FW');
  const last = (k: string) => s?.keys.get(k)?.at(-1);
  const version = last('VERSION');
  const filename = last('FILENAME');
  if (!s || !version || !filename) return undefined;
  const mode = (last('DOWNLOAD_MODE')?.value ?? 'AUTO').toUpperCase();
  const protocol = (last('PROTOCOL')?.value ?? 'TFTP').toUpperCase();
  const server = last('SERVER_IP');
  const user = last('SRV_USER_NAME');
  const password = last('SRV_USER_PASS');
  return {
    version: version.value,
    mode: mode === 'FORCED' ? 'FORCED' : 'AUTO',
    filename: filename.value,
    protocol: (['TFTP', 'FTP', 'HTTP', 'HTTPS'].includes(protocol) ? protocol : 'TFTP') as Sip1200Protocol,
    ...(server ? { serverIp: server.value } : {}),
    ...(user ? { user: user.value, password: password?.value ?? '' } : {}),
    line: s.line,
    filenameLine: filename.line,
  };
}

/**
 * Orders two 1200 version strings by their digit groups (`SIP12x004.04.09.00` → 12, 4, 4, 9, 0;
 * `000123` → 123): -1, 0 or 1.
 */
export function compareSip1200Versions(a: string, b: string): -1 | 0 | 1 {
  const nums = (s: string) => (s.match(/[0-9]+/g) ?? []).map((x) => BigInt(x));
  const x = nums(a);
  const y = nums(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? -1n;
    const q = y[i] ?? -1n;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** Whether a [USER_CONFIG] section is present (the phone then fetches `SIP<MAC>.cfg`). */
export function hasUserConfig(file: Sip1200File): boolean {
  return file.sections.some((s) => s.name === 'USER_CONFIG');
}
