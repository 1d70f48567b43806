import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avayaImageVersion,
  checkCfgModel,
  compareSip1200Versions,
  crc32,
  decideImage,
  decodeImageHeader,
  encodeImageHeader,
  findModel,
  fwDirective,
  hasUserConfig,
  IMAGE_HEADER_BYTES,
  imageHeaderFor,
  ImageVerifier,
  parseAudiocodesCfg,
  parseProvisioningUrl,
  parseSip1200Provisioning,
  sectionFiles,
  verifyImage,
} from '../../packages/bootwire/src/phones/index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('1200 provisioning file', () => {
  // The keywords as the 1200 SIP administration guide lists them: "VERSION [xxxxxx]", "DOWNLOAD_MODE
  // [AUTO | FORCED]", "FILENAME [filename]", "PROTOCOL [TFTP | FTP | HTTP]", "SERVER_IP [address]";
  // version example "SIP12x004.04.09.00"; "[USER_CONFIG] ... downloads ... SIP<mac id>.cfg".
  const FILE = [
    '# 1230SIP.cfg',
    '[DEVICE_CONFIG]',
    'DOWNLOAD_MODE AUTO',
    'VERSION 000001',
    'FILENAME 12x0_device.cfg',
    '[FW]',
    'DOWNLOAD_MODE FORCED   # downgrade',
    'VERSION SIP12x004.04.09.00',
    'FILENAME SIP12x004.04.09.00.bin',
    'PROTOCOL HTTP',
    'SERVER_IP 10.0.0.7',
    '[LANGUAGE]',
    'VERSION 000002',
    'FILENAME french.lng german.lng',
    '[USER_CONFIG]',
    'VERSION 000001',
  ].join('\r\n');

  it('reads sections, keywords with their lines, comments after #', () => {
    const f = parseSip1200Provisioning(FILE);
    expect(f.problems).toEqual([]);
    expect(f.sections.map((s) => `${s.name}@${s.line}`)).toEqual([
      'DEVICE_CONFIG@2',
      'FW@6',
      'LANGUAGE@12',
      'USER_CONFIG@15',
    ]);
    expect(fwDirective(f)).toEqual({
      version: 'SIP12x004.04.09.00',
      mode: 'FORCED',
      filename: 'SIP12x004.04.09.00.bin',
      protocol: 'HTTP',
      serverIp: '10.0.0.7',
      line: 6,
      filenameLine: 9,
    });
    expect(sectionFiles(f.sections[2]!)).toEqual([
      { value: 'french.lng', line: 14 },
      { value: 'german.lng', line: 14 },
    ]);
    expect(hasUserConfig(f)).toBe(true);
  });

  it('defaults: DOWNLOAD_MODE AUTO, PROTOCOL TFTP, the provisioning server', () => {
    const f = parseSip1200Provisioning('[FW]\nVERSION SIP12x004.04.09.00\nFILENAME fw.bin\n');
    expect(fwDirective(f)).toMatchObject({ mode: 'AUTO', protocol: 'TFTP' });
    expect(fwDirective(f)!.serverIp).toBeUndefined();
  });

  it(
    '"The maximum length of a line item ... is 80 characters ... the remaining portion of the file ' +
      '... is ignored"',
    () => {
      const f = parseSip1200Provisioning(`[FW]\nVERSION SIP12x004.04.09.00\n# ${'x'.repeat(80)}\nFILENAME fw.bin\n`);
      expect(f.truncatedAt).toBe(3);
      expect(f.problems.map((p) => `${p.line} ${p.severity}: ${p.message}`)).toEqual([
        '3 error: line of 82 characters (the phone reads lines under 80): the rest of the file is ignored',
        '1 error: [FW] has no FILENAME',
      ]);
    },
  );

  it('reports missing VERSION, bad values, unknown keywords and sections with their lines', () => {
    const f = parseSip1200Provisioning(
      'FILENAME early.cfg\n[DEVICE_CONFIG]\nVERSION 12\nDOWNLOAD_MODE SOMETIMES\nFILENAME ' +
        'd.cfg\nPROTOCOL GOPHER\nCOLOR red\n[FOO]\nVERSION 000001\nFILENAME f\n[FW]\nFILENAME x.bin\n',
    );
    expect(f.problems.map((p) => `${p.line} ${p.severity}: ${p.message}`)).toEqual([
      '1 warning: FILENAME outside any section is ignored',
      '7 warning: unknown keyword COLOR',
      '8 warning: unknown section [FOO]',
      '3 error: VERSION "12": expected a 6- to 10-digit number',
      '4 error: DOWNLOAD_MODE "SOMETIMES": expected AUTO or FORCED',
      '6 error: PROTOCOL "GOPHER": expected TFTP, FTP, HTTP or HTTPS',
      '11 error: [FW] has no VERSION (mandatory in every section)',
    ]);
  });

  it('orders versions by their numbers', () => {
    expect(compareSip1200Versions('SIP12x004.04.09.00', 'SIP12x004.04.10.00')).toBe(-1);
    expect(compareSip1200Versions('SIP12x004.04.09.00', 'SIP12x004.04.09.00')).toBe(0);
    expect(compareSip1200Versions('000010', '000009')).toBe(1);
  });

  it('never throws on garbage', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 })), (input) => {
        const f = parseSip1200Provisioning(input);
        expect(f.problems.length).toBeLessThanOrEqual(500);
        fwDirective(f);
      }),
      { numRuns: 300 },
    );
  });
});

describe('AudioCodes provisioning URL', () => {
  const phone = { model: '440HD', mac: '00:90:8F:12:34:56' };

  it('"proto://host[/firmware.img][;config.cfg]" with <MODEL> and <MAC>; no protocol means TFTP', () => {
    const r = parseProvisioningUrl('https://prov.example.com:8443/ph/<MODEL>.img;<MAC>.cfg', phone);
    expect(r).toEqual({
      ok: true,
      warnings: [],
      url: {
        protocol: 'https',
        host: 'prov.example.com',
        port: 8443,
        directory: 'ph/',
        image: '440HD.img',
        config: '00908f123456.cfg',
        imageGiven: true,
        configGiven: true,
      },
    });
    const t = parseProvisioningUrl('10.0.0.8', phone);
    expect(t.ok && t.url).toMatchObject({
      protocol: 'tftp',
      port: 69,
      directory: '',
      image: '440HD.img',
      config: '00908f123456.cfg',
      imageGiven: false,
    });
  });

  it('a path without .img is a directory; credentials are kept apart', () => {
    const r = parseProvisioningUrl('ftp://user:pw@10.0.0.8/phones/', phone);
    expect(r.ok && r.url).toMatchObject({
      protocol: 'ftp',
      port: 21,
      directory: 'phones/',
      image: '440HD.img',
      user: 'user',
      password: 'pw',
    });
  });

  it('refuses what the phone cannot use: other extensions, .., other protocols, spaces', () => {
    const err = (s: string) => {
      const r = parseProvisioningUrl(s, phone);
      return r.ok ? 'ok' : r.error;
    };
    expect(err('tftp://10.0.0.8/fw.bin')).toBe('firmware file "fw.bin" does not end in .img');
    expect(err('tftp://10.0.0.8/x.img;conf.txt')).toBe('configuration file "conf.txt" does not end in .cfg');
    expect(err('tftp://10.0.0.8/../x.img')).toBe('".." in "../x.img"');
    expect(err('gopher://10.0.0.8/')).toBe('unsupported protocol "gopher" (tftp, http, https, ftp)');
    expect(err('tftp://10.0.0.8/a b.img')).toMatch(/white space/);
    expect(err('')).toBe('empty provisioning URL');
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => void parseProvisioningUrl(s, phone)),
      { numRuns: 500 },
    );
  });
});

describe('AudioCodes .cfg model check', () => {
  it('applies a file whose system/type is the model; reports the line otherwise', () => {
    const cfg = parseAudiocodesCfg('# 440HD.cfg\nsystem/type=440HD\nvoip/line/0/enabled=1\n');
    expect(checkCfgModel(cfg, '440HD')).toEqual({ ok: true });
    expect(checkCfgModel(cfg, '420HD')).toEqual({
      ok: false,
      problem: { line: 2, message: 'system/type is "440HD": a 420HD does not apply this file' },
    });
    expect(checkCfgModel(parseAudiocodesCfg('a=b\n'), '440HD')).toMatchObject({ ok: false, problem: { line: 0 } });
    expect(parseAudiocodesCfg('junk line\nk=v').warnings).toEqual([
      { line: 1, message: 'not a key=value line: "junk line"' },
    ]);
  });
});

describe('image header', () => {
  const fields = { family: 'audiocodes-400hd', models: ['440HD'], version: '2.2.8.64' };
  const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 255));
  const image = () => Buffer.concat([imageHeaderFor(fields, payload), payload]);

  it('CRC-32 is the zlib/IEEE one', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips every field; the layout is the documented one', () => {
    const img = image();
    expect(img.subarray(0, 8).toString('hex')).toBe('4257494d470d0a1a');
    expect(img.readUInt16BE(8)).toBe(1);
    expect(img.readUInt16BE(10)).toBe(128);
    expect(img.toString('latin1', 12, 28)).toBe('audiocodes-400hd');
    expect(img.toString('latin1', 32, 37)).toBe('440HD');
    expect(img.toString('latin1', 56, 64)).toBe('2.2.8.64');
    expect(Number(img.readBigUInt64BE(76))).toBe(5000);
    expect(img.subarray(84, 116).toString('hex')).toBe(sha(payload));
    expect(img.readUInt32BE(124)).toBe(crc32(img.subarray(0, 124)));
    const r = verifyImage(img, { model: '440hd', family: 'audiocodes-400hd' });
    expect(r).toEqual({
      ok: true,
      header: { ...fields, payloadLength: 5000, sha256: createHash('sha256').update(payload).digest() },
    });
    // the header alone, as a phone reads it first
    expect(decodeImageHeader(img.subarray(0, IMAGE_HEADER_BYTES))).toEqual(r);
  });

  it('detects a truncated image, an extra byte, a flipped payload bit, a damaged header, a text-mode transfer', () => {
    const code = (b: Buffer, expect = {}) => {
      const r = verifyImage(b, expect);
      return r.ok ? 'ok' : r.error.code;
    };
    const img = image();
    expect(code(img.subarray(0, img.length - 1))).toBe('wrong-size');
    expect(code(Buffer.concat([img, Buffer.from([0])]))).toBe('wrong-size');
    const flipped = Buffer.from(img);
    flipped[IMAGE_HEADER_BYTES + 100]! ^= 1;
    expect(code(flipped)).toBe('bad-digest');
    const header = Buffer.from(img);
    header[60] = 0x39; // the version
    expect(code(header)).toBe('bad-header-crc');
    const text = Buffer.concat([img.subarray(0, 5), Buffer.from('\n\x1a'), img.subarray(8)]);
    const t = verifyImage(text);
    expect(!t.ok && t.error).toEqual({
      code: 'bad-magic',
      message: expect.stringMatching(/line ends changed in transfer/),
    });
    expect(code(img.subarray(0, 100))).toBe('short');
    expect(code(img, { model: '420HD' })).toBe('wrong-model');
    expect(code(img, { family: 'avaya-9600-sip' })).toBe('wrong-family');
  });

  it('the streaming verifier gives the same verdict for any chunking', () => {
    const img = image();
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 30 }), (sizes) => {
        const v = new ImageVerifier({ model: '440HD' });
        let at = 0;
        for (let i = 0; at < img.length; i++) {
          const n = sizes[i % sizes.length]!;
          v.update(img.subarray(at, at + n));
          at += n;
        }
        expect(v.finish().ok).toBe(true);
        expect(v.finish().ok).toBe(true); // asking twice is safe
      }),
      { numRuns: 100 },
    );
  });

  it('any damage to any byte is detected', () => {
    const img = image();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: img.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Buffer.from(img);
        bad[at]! ^= x;
        expect(verifyImage(bad).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('garbage never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => void verifyImage(b)),
      { numRuns: 500 },
    );
  });

  it('refuses fields that do not fit when encoding (a programming error)', () => {
    const h = { ...fields, payloadLength: 1, sha256: Buffer.alloc(32) };
    expect(() => encodeImageHeader({ ...h, version: 'x'.repeat(21) })).toThrow(RangeError);
    expect(() => encodeImageHeader({ ...h, models: [] })).toThrow(RangeError);
    expect(() => encodeImageHeader({ ...h, family: 'has space' })).toThrow(RangeError);
  });
});

describe('image download decisions', () => {
  it('Avaya names carry versions: ha96xxua3_2_0_S.bin is 3.2.0', () => {
    expect(avayaImageVersion('ha96xxua3_2_0_S.bin')).toBe('3.2.0');
    expect(avayaImageVersion('a10d01b2_3.bin')).toBe('2.3');
    expect(avayaImageVersion('S96x1_SALBR7_1_2_0.tar')).toBe('7.1.2.0');
    expect(avayaImageVersion('46xxupgrade.scr')).toBeUndefined();
  });

  it('4600 and 9600: by application name', () => {
    const p = findModel('4610')!;
    expect(decideImage(p, {}, { name: 'a10d01b2_3.bin' }).download).toBe(true);
    expect(decideImage(p, { name: 'a10d01b2_3.bin' }, { name: 'a10d01b2_3.bin' })).toEqual({
      download: false,
      reason: 'already runs a10d01b2_3.bin',
    });
    expect(
      decideImage(findModel('9620')!, { name: 'ha96xxua3_1_0_S.bin' }, { name: 'ha96xxua3_2_0_S.bin' }).download,
    ).toBe(true);
  });

  it('1600: by the version in the name', () => {
    const p = findModel('1608')!;
    expect(decideImage(p, { name: 'ha16xxua1_5_0.bin' }, { name: 'ha16xxua1_5_0.bin' }).download).toBe(false);
    expect(decideImage(p, { version: '1.5.0' }, { name: 'renamed_ha16xxua1_5_0.bin' }).download).toBe(false);
    expect(decideImage(p, { version: '1.4.0' }, { name: 'ha16xxua1_5_0.bin' })).toEqual({
      download: true,
      reason: 'runs version 1.4.0, the server offers 1.5.0',
    });
  });

  it('1200: AUTO only for a higher VERSION, FORCED always', () => {
    const p = findModel('1230')!;
    const running = { version: 'SIP12x004.04.09.00' };
    expect(decideImage(p, running, { name: 'fw.bin', version: 'SIP12x004.04.09.00', mode: 'AUTO' }).download).toBe(
      false,
    );
    expect(decideImage(p, running, { name: 'fw.bin', version: 'SIP12x004.03.00.00', mode: 'AUTO' }).download).toBe(
      false,
    );
    expect(decideImage(p, running, { name: 'fw.bin', version: 'SIP12x004.05.00.00', mode: 'AUTO' }).download).toBe(
      true,
    );
    expect(decideImage(p, running, { name: 'fw.bin', version: 'SIP12x004.03.00.00', mode: 'FORCED' }).download).toBe(
      true,
    );
  });

  it('400HD: by the header version', () => {
    const p = findModel('440HD')!;
    expect(decideImage(p, { version: '2.2.8.64' }, { name: '440HD.img', version: '2.2.8.64' }).download).toBe(false);
    expect(decideImage(p, { version: '2.2.8.60' }, { name: '440HD.img', version: '2.2.8.64' }).download).toBe(true);
  });
});
