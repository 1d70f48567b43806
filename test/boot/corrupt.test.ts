/**
 * A corrupted image on the server: truncated (wrong size), a header byte changed (bad header CRC), a
 * payload byte flipped (bad digest), or the image of another model. The phone downloads it, the
 * verifier refuses it, the boot fails in phase `image` with the verifier's code, and the state file
 * still names the image the phone ran before: nothing was "burnt". With the right image back, the same
 * phone boots and burns it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootCli,
  IMAGE_FILE_BYTES,
  initRoot,
  readState,
  relayPort,
  replaceFile,
  scratch,
  type Site,
  startSite,
  stateFile,
  steps,
  writeConfig,
} from './helpers.js';

let dir: string;
let root: string;
let site: Site;
let stateDir: string;

beforeAll(async () => {
  dir = await scratch('bw-boot-corrupt-');
  root = await initRoot(dir);
  stateDir = path.join(dir, 'state');
  await fs.mkdir(stateDir);
  const relay = await relayPort();
  site = await startSite(await writeConfig(dir, root, relay), relay);
});
afterAll(async () => {
  await site?.served.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Three families, three ways to decide and fetch: 9608 (script, HTTP), 440HD (header, TFTP), 1220 ([FW], TFTP). */
const PHONES = [
  {
    model: '9608',
    mac: '00:04:0d:c0:00:01',
    image: 'S96x1_SALBR7_1_2_0.tar',
    other: 'ha96xxua3_2_0_S.bin', // the 9620/9640 image
    old: { name: 'S96x1_SALBR7_1_0_0.tar', version: '7.1.0.0' },
    protocol: 'http',
    before: ['dhcp dhcp -', 'script http 96x1Supgrade.txt'],
    after: ['script http 96x1Supgrade.txt', 'settings http 46xxsettings.txt'],
  },
  {
    model: '440HD',
    mac: '00:90:8f:c0:00:02',
    image: '440HD.img',
    other: '420HD.img',
    old: { name: '440HD.img', version: '2.2.8.0' },
    protocol: 'tftp',
    before: ['dhcp dhcp -'],
    after: ['settings tftp 440HD.cfg'],
  },
  {
    model: '1220',
    mac: '00:17:65:c0:00:03',
    image: 'SIP12x004.04.09.00.bin',
    other: 'a10d01b2_3.bin', // a 4610 image
    old: { name: 'SIP12x004.04.08.00.bin', version: 'SIP12x004.04.08.00' },
    protocol: 'tftp',
    before: ['dhcp dhcp -', 'script tftp 1220SIP.cfg'],
    after: ['settings tftp 12x0_device.cfg', 'settings tftp SIP001765C00003.cfg FAILED'],
  },
] as const;

/** `bytes`: what the phone downloaded before refusing: all of it, or 'header' (it stops once the header is read). */
type Damage = { code: string; make: (good: Buffer, other: Buffer) => Buffer; bytes: number | 'header'; detail: RegExp };

const DAMAGE: Record<string, Damage> = {
  truncated: {
    code: 'wrong-size',
    make: (good) => good.subarray(0, good.length - 1000),
    bytes: IMAGE_FILE_BYTES - 1000,
    detail: new RegExp(
      `payload is ${IMAGE_FILE_BYTES - 1128} bytes, the header announces ${IMAGE_FILE_BYTES - 128}` +
        ` \\(truncated image\\)`,
    ),
  },
  'header byte changed': {
    code: 'bad-header-crc',
    make: (good) => {
      const b = Buffer.from(good);
      b[60]! ^= 0x01; // in the version field: the header CRC no longer matches
      return b;
    },
    bytes: 'header',
    detail: /header CRC-32 is [0-9a-f]{8}, computed [0-9a-f]{8}: the header is damaged/,
  },
  'payload byte flipped': {
    code: 'bad-digest',
    make: (good) => {
      const b = Buffer.from(good);
      b[128 + 100_000]! ^= 0xff;
      return b;
    },
    bytes: IMAGE_FILE_BYTES,
    detail: /payload SHA-256 [0-9a-f]{16}\.\.\. differs from the header's [0-9a-f]{16}\.\.\./,
  },
  'image for another model': {
    code: 'wrong-model',
    make: (_good, other) => other,
    bytes: 'header',
    detail: /image is for .+, not /,
  },
};

describe('a corrupted image is refused and not burnt', () => {
  for (const phone of PHONES) {
    it.for(Object.entries(DAMAGE))(`${phone.model}: %s`, async ([, damage]) => {
      const file = path.join(root, phone.image);
      const good = await fs.readFile(file);
      const other = await fs.readFile(path.join(root, phone.other));
      const seeded = { image: phone.old };
      await fs.writeFile(stateFile(stateDir, phone.mac), JSON.stringify(seeded));
      await replaceFile(file, damage.make(good, other));
      try {
        const r = await bootCli(['--model', phone.model, '--mac', phone.mac, '--state', stateDir, ...site.bootArgs]);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        const rep = r.report!;
        expect([rep.ok, rep.imageDownloaded, rep.failedIn]).toEqual([false, false, 'image']);
        expect(rep.error).toContain(`image ${phone.image} is not fit to burn (${damage.code}): `);
        expect(rep.error).toMatch(damage.detail);
        expect(rep.error).toContain(`; the phone keeps ${phone.old.name}`);
        expect(steps(rep)).toEqual([...phone.before, `image ${phone.protocol} ${phone.image} FAILED`]);
        const img = rep.phases.at(-1)!;
        if (damage.bytes === 'header') {
          expect(img.bytes).toBeGreaterThanOrEqual(128);
          expect(img.bytes).toBeLessThan(IMAGE_FILE_BYTES);
        } else expect(img.bytes).toBe(damage.bytes);
        expect(img.error).toMatch(new RegExp(`^${damage.code}: `));
        // The state file still says the old image.
        expect(((await readState(stateDir, phone.mac)) as { image: unknown }).image).toEqual(phone.old);
      } finally {
        await replaceFile(file, good);
      }
    });
  }

  it.for(PHONES)('$model boots and burns the image once it is right again', async (phone) => {
    await fs.writeFile(stateFile(stateDir, phone.mac), JSON.stringify({ image: phone.old }));
    const r = await bootCli(['--model', phone.model, '--mac', phone.mac, '--state', stateDir, ...site.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.report!.imageDownloaded).toBe(true);
    expect(steps(r.report!)).toEqual([...phone.before, `image ${phone.protocol} ${phone.image}`, ...phone.after]);
    expect(((await readState(stateDir, phone.mac)) as { image: { name: string } }).image.name).toBe(phone.image);
  });
});
