/**
 * `bootwire init ROOT`: a complete example provisioning root for every model in models.ts, plus a
 * bootwire.json serving it (TFTP, and DHCP with one class per family for 10.77.0.0/24).
 *
 * `exampleRootFiles` is pure: the list of files, images as deterministic generators (a seeded PRNG,
 * so the same options give the same bytes). `writeExampleRoot` is the edge: it writes everything into
 * a hidden sibling directory and renames it into place, so a failure leaves no partial root.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { imageHeaderFor } from './image-header.js';
import { PHONE_MODELS, type PhoneModel } from './models.js';

/** The file server, call server and gateway the example DHCP answers name (issue 4's subnet). */
export const EXAMPLE_SITE = {
  subnet: '10.77.0.0/24',
  pool: '10.77.0.100-10.77.0.199',
  router: '10.77.0.1',
  fileServer: '10.77.0.1',
  callServer: '10.77.0.5',
} as const;

/** Written into every root `init` creates; `--force` replaces only a directory that has it. */
export const INIT_MARKER = '.bootwire-init';

export interface RootFile {
  /** Relative, '/'-separated. */
  readonly path: string;
  /** Text files are given directly; images are generated on demand (they can be tens of MB). */
  readonly content: string | (() => Buffer[]);
  /** For images: what the header says. */
  readonly image?: {
    readonly family: string;
    readonly models: readonly string[];
    readonly version: string;
    readonly payloadBytes: number;
  };
}

export interface ExampleRootOptions {
  /** Payload size of every image; default: each model's typical size. */
  readonly imageSize?: number;
  /** PRNG seed for image bytes. */
  readonly seed?: number;
  /**
   * `SET BRURI` in 46xxsettings.txt: where the 1600 and 96xx phones back up their user data
   * (e.g. `http://10.77.0.1/backup/`, served with `serve --backup /backup/=DIR`). Default: none.
   */
  readonly backupUri?: string;
}

// ------------------------------------------------------------------------------------------ bytes

/** FNV-1a of a string: a per-file seed. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * `n` pseudo-random bytes from a seed (xorshift128, ~1 GB/s): incompressible like real firmware,
 * identical for the same seed.
 */
export function seededBytes(n: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  // Marsaglia's xorshift128 with his example state, the seed mixed into x.
  let x = (123456789 ^ seed) >>> 0 || 123456789;
  let y = 362436069;
  let z = 521288629;
  let w = 88675123;
  for (let i = 0; i < words.length; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    words[i] = w;
  }
  return Buffer.from(words.buffer, 0, n);
}

// ------------------------------------------------------------------------------------------- texts

const byFamily = (f: PhoneModel['family']) => PHONE_MODELS.filter((m) => m.family === f);

/** An upgrade script choosing APPNAME by MODEL4, then GETting the settings file. */
function avayaUpgradeScript(file: string, models: readonly PhoneModel[], title: string): string {
  const lines = [
    `## bootwire example: ${title} upgrade script (${file})`,
    '## SET APPNAME names the application the phone must run; GET reads the settings.',
  ];
  const images = [...new Set(models.map((m) => m.files.image))];
  const label = (image: string) => `APP${images.indexOf(image) + 1}`;
  for (const m of models) lines.push(`IF $MODEL4 SEQ ${m.script!.variables['MODEL4']} GOTO ${label(m.files.image)}`);
  lines.push('GOTO GETSET');
  for (const image of images) lines.push(`# ${label(image)}`, `SET APPNAME ${image}`, 'GOTO GETSET');
  lines.pop(); // the last block falls through to GETSET
  lines.push('# GETSET', 'GET 46xxsettings.txt', '');
  return lines.join('\n');
}

const SETTINGS = `## bootwire example: settings for the Avaya 4600, 1600 and 9600 SIP phones
## (46xxsettings.txt, read by the upgrade scripts' GET). Values in quotes may hold spaces.
SET SNTPSRVR ${EXAMPLE_SITE.router}
SET GMTOFFSET "1:00"
IF $MODEL4 SEQ 4610 GOTO H323
IF $MODEL4 SEQ 4620 GOTO H323
IF $MODEL4 SEQ 1608 GOTO H323
SET SIPDOMAIN example.test
SET SIP_CONTROLLER_LIST ${EXAMPLE_SITE.callServer}:5060;transport=tcp
GOTO GROUPS
# H323
SET MCIPADD ${EXAMPLE_SITE.callServer}
# GROUPS
IF $GROUP SEQ 1 GOTO GROUP1
GOTO END
# GROUP1
SET DIALPLAN "[2-4]xxx|9xxxxxxx"
# END
`;

function sip1200Provisioning(model: PhoneModel): string {
  return [
    `# bootwire example: Avaya ${model.name} SIP provisioning file`,
    '# Lines must stay under 80 characters.',
    '[DEVICE_CONFIG]',
    'DOWNLOAD_MODE AUTO',
    'VERSION 000001',
    'FILENAME 12x0_device.cfg',
    '',
    '[FW]',
    'DOWNLOAD_MODE AUTO',
    `VERSION ${model.files.imageVersion}`,
    `FILENAME ${model.files.image}`,
    'PROTOCOL TFTP',
    '',
    '# [USER_CONFIG] makes each phone fetch SIP<MAC>.cfg (optional).',
    '[USER_CONFIG]',
    'DOWNLOAD_MODE FORCED',
    'VERSION 000001',
    '',
  ].join('\n');
}

const SIP1200_DEVICE = `# bootwire example: device settings for the Avaya 1200 SIP phones
SIP_DOMAIN1 example.test
SERVER_IP1_1 ${EXAMPLE_SITE.callServer}
SERVER_PORT1_1 5060
SNTP_ENABLE YES
SNTP_SERVER ${EXAMPLE_SITE.router}
`;

function audiocodesCfg(model: PhoneModel): string {
  return `# bootwire example: AudioCodes ${model.name} configuration (${model.name}.cfg)
# The phone applies this file only when system/type names its model.
system/type=${model.name}
system/ntp/enabled=1
system/ntp/primary_server_address=${EXAMPLE_SITE.router}
voip/line/0/enabled=1
voip/signalling/sip/proxy_address=${EXAMPLE_SITE.callServer}
`;
}

const README = `This provisioning root was written by \`bootwire init\`: one example of every phone family
bootwire models (docs/phones.md). Check it with \`bootwire check ROOT\`; serve it with
\`bootwire serve --config ROOT/bootwire.json\` (TFTP on 127.0.0.1:6969, DHCP on 127.0.0.1:6767).

The DHCP answers describe a site as a real one would be set up: subnet ${EXAMPLE_SITE.subnet}, file
server ${EXAMPLE_SITE.fileServer}, call server ${EXAMPLE_SITE.callServer}.

Avaya 4600 (4610, 4620)   46xxupgrade.scr   -> a10d01b2_3.bin / a20d01b2_3.bin, 46xxsettings.txt
Avaya 1600 (1608)         16xxupgrade.txt   -> ha16xxua1_5_0.bin, 46xxsettings.txt
Avaya 96x1 SIP (9608, 9611) 96x1Supgrade.txt -> S96x1_SALBR7_1_2_0.tar, 46xxsettings.txt
Avaya 96xx SIP (9620, 9640) 96xxupgrade.txt -> ha96xxua3_2_0_S.bin, 46xxsettings.txt
Avaya 1200 SIP (1220, 1230) 1220SIP.cfg / 1230SIP.cfg -> SIP12x004.04.09.00.bin, 12x0_device.cfg
AudioCodes 400HD (420HD, 440HD) 420HD.img / 440HD.img, 420HD.cfg / 440HD.cfg

The images are generated bytes behind bootwire's documented image header (docs/phones.md): they
are for simulated phones, not for real ones.
`;

function bootwireJson(): string {
  const s = EXAMPLE_SITE;
  const doc = {
    root: '.',
    tftp: { listen: '127.0.0.1:6969' },
    dhcp: {
      listen: '127.0.0.1:6767',
      relayPort: 6768,
      leases: 'leases.db',
      subnets: [
        {
          subnet: s.subnet,
          pool: s.pool,
          leaseSeconds: 3600,
          options: { router: s.router, 'domain-name-server': s.router, 'domain-name': 'example.test' },
        },
      ],
      classes: [
        { name: 'avaya-1200-sip', match: { vendorClass: 'Nortel-SIP-Phone-A' }, options: { '66': s.fileServer } },
        {
          name: 'audiocodes-400hd',
          match: { vendorClass: { regex: '^4[0-9]{2}HD$' } },
          options: { '160': `tftp://${s.fileServer}/<MODEL>.img;<MODEL>.cfg` },
        },
        {
          name: 'avaya-9600-sip',
          match: { vendorClass: 'ccp.avaya.com' },
          options: { '242': `HTTPSRVR=${s.fileServer},SIP_CONTROLLER_LIST=${s.callServer}:5060;transport=tcp` },
        },
        {
          name: 'avaya-4600-1600',
          match: { macPrefix: '00:04:0d' },
          options: {
            '66': s.fileServer,
            '176': `MCIPADD=${s.callServer},MCPORT=1719,HTTPSRVR=${s.fileServer},TFTPSRVR=${s.fileServer}`,
            '242': `MCIPADD=${s.callServer},MCPORT=1719,HTTPSRVR=${s.fileServer}`,
          },
        },
      ],
    },
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// ------------------------------------------------------------------------------------------ the root

/** Every file of the example root, in writing order (texts first, then images). Pure. */
export function exampleRootFiles(opts: ExampleRootOptions = {}): RootFile[] {
  const seed = opts.seed ?? 1;
  const files: RootFile[] = [
    { path: 'README.txt', content: README },
    { path: 'bootwire.json', content: bootwireJson() },
    {
      path: INIT_MARKER,
      content: 'written by bootwire init; `bootwire init --force` replaces only a directory holding this file\n',
    },
    { path: '46xxupgrade.scr', content: avayaUpgradeScript('46xxupgrade.scr', byFamily('avaya-4600'), 'Avaya 4600') },
    { path: '16xxupgrade.txt', content: avayaUpgradeScript('16xxupgrade.txt', byFamily('avaya-1600'), 'Avaya 1600') },
  ];
  const s96 = byFamily('avaya-9600-sip');
  for (const script of [...new Set(s96.map((m) => m.files.script!))]) {
    files.push({
      path: script,
      content: avayaUpgradeScript(
        script,
        s96.filter((m) => m.files.script === script),
        'Avaya 9600 SIP',
      ),
    });
  }
  const backup =
    opts.backupUri !== undefined
      ? `## Backup and restore of the 1600/96xx user data (BRURI): HTTP PUT and GET there.\nSET BRURI ` +
        `${opts.backupUri}\n`
      : '';
  files.push({
    path: '46xxsettings.txt',
    content: SETTINGS.replace('IF $MODEL4 SEQ 4610 GOTO H323', `${backup}IF $MODEL4 SEQ 4610 GOTO H323`),
  });
  for (const m of byFamily('avaya-1200-sip')) files.push({ path: m.files.script!, content: sip1200Provisioning(m) });
  files.push({ path: '12x0_device.cfg', content: SIP1200_DEVICE });
  for (const m of byFamily('audiocodes-400hd')) files.push({ path: `${m.name}.cfg`, content: audiocodesCfg(m) });

  // One image per file name, for every model naming it.
  const images = new Map<string, PhoneModel[]>();
  for (const m of PHONE_MODELS) images.set(m.files.image, [...(images.get(m.files.image) ?? []), m]);
  for (const [name, models] of images) {
    const first = models[0]!;
    const payloadBytes = opts.imageSize ?? Math.max(...models.map((m) => m.image.typicalBytes));
    const fields = { family: first.family, models: models.map((m) => m.name), version: first.files.imageVersion };
    files.push({
      path: name,
      image: { ...fields, payloadBytes },
      content: () => {
        const payload = seededBytes(payloadBytes, (fnv1a(name) ^ seed) >>> 0);
        return [imageHeaderFor(fields, payload), payload];
      },
    });
  }
  return files;
}

/** `8M`, `512K`, `1.5M`, `1G`, `1000000` → bytes (K = 1024). Undefined when not a size. */
export function parseSize(s: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B?|B)?\s*$/i.exec(s);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toUpperCase()[0];
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  const n = Math.round(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : undefined;
}

export class InitError extends Error {
  override name = 'InitError';
}

export interface WriteResult {
  readonly root: string;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Writes the example root at `root`. Refuses a non-empty directory unless `force`, and even then
 * replaces only a directory an earlier `init` wrote (it holds INIT_MARKER), so `--force` can never
 * delete someone's home directory. All files go to a hidden sibling directory first, which is renamed
 * into place at the end: on any failure nothing is left behind and an existing root is untouched.
 */
export async function writeExampleRoot(
  root: string,
  opts: ExampleRootOptions & { force?: boolean } = {},
): Promise<WriteResult> {
  return writeRootAtomically(root, exampleRootFiles(opts), { force: opts.force ?? false });
}

/** writeExampleRoot's mechanism for any list of files (which must include INIT_MARKER to be replaceable later). */
export async function writeRootAtomically(
  root: string,
  rootFiles: Iterable<RootFile>,
  opts: { force: boolean },
): Promise<WriteResult> {
  const target = path.resolve(root);
  let existing: 'none' | 'empty' | 'ours' = 'none';
  const st = await fs.lstat(target).catch(() => undefined);
  if (st) {
    if (!st.isDirectory()) throw new InitError(`${root} exists and is not a directory`);
    const entries = await fs.readdir(target);
    if (entries.length === 0) existing = 'empty';
    else if (!opts.force) throw new InitError(`${root} is not empty (use --force to replace an earlier init root)`);
    else if (!entries.includes(INIT_MARKER))
      throw new InitError(
        `${root} is not empty and was not written by bootwire init: --force replaces only init roots; ` +
          `remove it yourself`,
      );
    else existing = 'ours';
  }
  const parent = path.dirname(target);
  await fs.mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.${path.basename(target)}.init-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(temp);
  let bytes = 0;
  let count = 0;
  try {
    for (const f of rootFiles) {
      if (f.path.split('/').some((seg) => seg === '' || seg === '.' || seg === '..') || f.path.includes('\0'))
        throw new InitError(`bad file name ${JSON.stringify(f.path)}`);
      if (f.path.includes('/')) await fs.mkdir(path.join(temp, ...f.path.split('/').slice(0, -1)), { recursive: true });
      const parts = typeof f.content === 'string' ? [Buffer.from(f.content, 'utf8')] : f.content();
      const fh = await fs.open(path.join(temp, ...f.path.split('/')), 'wx', 0o644);
      try {
        for (const p of parts) {
          await fh.write(p);
          bytes += p.length;
        }
      } finally {
        await fh.close();
      }
      count++;
    }
    if (existing === 'ours') {
      // Swap: old root aside, new root in, old root removed. A failed second rename puts the old one back.
      const old = `${temp}.old`;
      await fs.rename(target, old);
      try {
        await fs.rename(temp, target);
      } catch (e) {
        await fs.rename(old, target).catch(() => {});
        throw e;
      }
      await fs.rm(old, { recursive: true, force: true });
    } else {
      // rename(2) replaces an empty directory.
      await fs.rename(temp, target);
    }
  } catch (e) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof InitError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InitError(`cannot write ${root}: ${code ?? (e as Error).message}`);
  }
  return { root: target, files: count, bytes };
}
