import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeDhcp } from '../../packages/dhcp/src/codec/index.js';
import { DoraMachine } from '../../packages/dhcp/src/client/dora.js';
import {
  customizeModel,
  dhcpIdentity,
  findModel,
  formatMac,
  MODEL_NAMES,
  PHONE_FAMILIES,
  PHONE_MODELS,
  scriptVariables,
  settingsFileFor,
} from '../../packages/bootwire/src/phones/index.js';

const m = (name: string) => findModel(name)!;

describe('phone models: the catalogue', () => {
  it('covers the five families and the models the issue names', () => {
    expect(PHONE_FAMILIES.map((f) => [f.id, f.models])).toEqual([
      ['avaya-4600', ['4610', '4620']],
      ['avaya-1600', ['1608']],
      ['avaya-9600-sip', ['9608', '9611', '9620', '9640']],
      ['avaya-1200-sip', ['1220', '1230']],
      ['audiocodes-400hd', ['420HD', '440HD']],
    ]);
    expect(MODEL_NAMES).toHaveLength(11);
  });

  it('finds models by name or alias, case-insensitively', () => {
    expect(findModel('9611G')!.name).toBe('9611');
    expect(findModel('440hd')!.name).toBe('440HD');
    expect(findModel(' 4610SW ')!.name).toBe('4610');
    expect(findModel('7960')).toBeUndefined();
  });

  it('every model names the source of its protocol order, DHCP request, server sources and image rule', () => {
    for (const model of PHONE_MODELS) {
      for (const key of [
        'protocols',
        'dhcp.parameterRequestList',
        'fileServerSources',
        'image.decision',
        'image.typicalBytes',
      ]) {
        expect(model.provenance[key], `${model.name} ${key}`).toBeDefined();
      }
      for (const [key, p] of Object.entries(model.provenance)) {
        expect(p.source.startsWith('unverified default'), `${model.name} ${key}: ${p.source}`).toBe(!p.verified);
      }
    }
  });

  it('the seed files the sources cite exist, and hold the quoted words', () => {
    const seeds = fileURLToPath(new URL('../../../shared/seeds/', import.meta.url));
    if (!existsSync(seeds)) return; // the shared tree is not part of a package checkout
    const quotes: Array<[string, string]> = [
      ['000_dec4fcf2101c1eb4.txt', 'if successful, will not attempt to access the TFTP server'],
      ['001_62a79a28ef37cb21.txt', 'from either an HTTP\nor HTTPS server'],
      ['002_368b95a88f59a109.txt', 'If the telephone determines the proper binary file is missing'],
      ['003_a89362a191675b29.txt', '1230SIP.cfg'],
      ['004_ca410a240168c769.txt', 'the phone requests for DHCP options 66/67/160'],
      ['004_ca410a240168c769.txt', 'publishes its model name in Option fields\n60 and 77'],
    ];
    for (const [file, quote] of quotes) expect(readFileSync(seeds + file, 'utf8')).toContain(quote);
  });
});

describe('phone models against the manuals', () => {
  it('Avaya 4600: HTTPS, HTTP, then TFTP, never TFTP after HTTP works; option 176 over 66; by application name', () => {
    const p = m('4610');
    expect(p.protocols).toEqual({ order: ['https', 'http', 'tftp'], noTftpAfterHttp: true });
    expect(p.dhcp.siteSpecificOption).toBe(176);
    expect(p.fileServerSources).toEqual(['site-specific', 'option-66']);
    expect(p.files).toMatchObject({ script: '46xxupgrade.scr', settings: '46xxsettings.txt', image: 'a10d01b2_3.bin' });
    expect(p.image.decision).toBe('name-differs');
    expect(p.script!.dialect).toEqual({
      seqCaseInsensitive: true,
      get: 'avaya-4600',
      variables: ['GROUP', 'MACADDR', 'MODEL', 'MODEL4', 'BOOTNAME', 'SIG'],
    });
    expect(scriptVariables(p, '00:04:0D:AA:BB:01')).toEqual({
      GROUP: '0',
      MODEL: '4610SW',
      MODEL4: '4610',
      MACADDR: '00:04:0d:aa:bb:01',
    });
  });

  it('Avaya 1600: HTTP(S) only; option 55 1,3,6,7,15,26,42 + 242; option 57 1000; by version', () => {
    const p = m('1608');
    expect(p.protocols.order).toEqual(['https', 'http']);
    expect(p.dhcp.parameterRequestList).toEqual([1, 3, 6, 7, 15, 26, 42, 242]);
    expect(p.dhcp.maxMessageSize).toBe(1000);
    expect(p.files.script).toBe('16xxupgrade.txt');
    expect(p.image.decision).toBe('version-differs');
    expect(p.script!.dialect.seqCaseInsensitive).toBe(true);
    expect(p.script!.dialect.get).toBe('avaya-96xx');
  });

  it(
    'Avaya 9600 SIP: HTTP(S); 242 over 43 over siaddr; refuses an OFFER without a lease time; 96x1 ' + 'script names',
    () => {
      expect(m('9608').files.script).toBe('96x1Supgrade.txt');
      expect(m('9611').files.script).toBe('96x1Supgrade.txt');
      expect(m('9620').files).toMatchObject({
        script: '96xxupgrade.txt',
        image: 'ha96xxua3_2_0_S.bin',
        imageVersion: '3.2.0',
      });
      const p = m('9608');
      expect(p.protocols.order).toEqual(['https', 'http']);
      expect(p.fileServerSources).toEqual(['site-specific', 'avaya-43', 'siaddr']);
      expect(p.dhcp.siteSpecificOption).toBe(242);
      expect(p.dhcp.requireLeaseTime).toBe(true);
      expect(p.dhcp.vendorClass).toBe('ccp.avaya.com');
      expect(p.provenance['dhcp.vendorClass']!.verified).toBe(false);
      expect(p.script!.dialect.seqCaseInsensitive).toBe(false);
      expect(p.script!.dialect.variables).toEqual(expect.arrayContaining(['VPNACTIVE', 'SIG_IN_USE', 'HWVERS']));
      expect(scriptVariables(m('9611'), '00:04:0d:aa:bb:03')).toMatchObject({ MODEL: '9611G', MODEL4: '9611' });
    },
  );

  it('Avaya 1200 SIP: TFTP by default; Nortel-SIP-Phone-A NUL-terminated; 57 = 1190; longest lease within 1 s', () => {
    const p = m('1230');
    expect(p.protocols.order[0]).toBe('tftp');
    expect(p.dhcp).toMatchObject({
      vendorClass: 'Nortel-SIP-Phone-A',
      vendorClassNul: true,
      maxMessageSize: 1190,
      clientIdIsMac: true,
      offerSelection: 'longest-lease',
      offerWaitMs: 1000,
    });
    expect(p.dhcp.parameterRequestList.slice(0, 9)).toEqual([1, 3, 6, 15, 28, 43, 58, 59, 66]);
    expect(p.files).toMatchObject({ script: '1230SIP.cfg', imageVersion: 'SIP12x004.04.09.00' });
    expect(m('1220').files.script).toBe('1220SIP.cfg');
    expect(p.image.decision).toBe('version-higher-or-forced');
    expect(p.tftp.imageDeadlineMs).toBe(600_000);
    expect(settingsFileFor(p, '00:17:65:fd:bf:1d')).toBe('SIP001765FDBF1D.cfg');
  });

  it(
    'AudioCodes 400HD: asks for 66/67/160; model name in 60 and 77; 160, then 66+67, then 43; by ' + 'header version',
    () => {
      const p = m('440HD');
      expect(p.dhcp.parameterRequestList).toEqual(expect.arrayContaining([66, 67, 160, 43]));
      expect(p.dhcp.vendorClass).toBe('440HD');
      expect(p.dhcp.userClass).toBe('440HD');
      expect(p.fileServerSources).toEqual(['option-160', 'option-66', 'option-43-url']);
      expect(p.files).toMatchObject({ image: '440HD.img', settings: '<MAC>.cfg' });
      expect(p.image).toMatchObject({ decision: 'version-differs', versionFrom: 'header' });
      expect(settingsFileFor(p, '00:90:8F:12:34:56')).toBe('00908f123456.cfg');
    },
  );

  it('realistic image sizes within 1-40 MB; TFTP requests carry no options by default', () => {
    for (const p of PHONE_MODELS) {
      expect(p.image.typicalBytes).toBeGreaterThanOrEqual(1_000_000);
      expect(p.image.typicalBytes).toBeLessThanOrEqual(40_000_000);
      expect(p.tftp.options).toEqual({});
    }
  });
});

describe('the DHCP request each model sends', () => {
  const discover = (name: string, mac: string) => {
    const sent: Buffer[] = [];
    const machine = new DoraMachine(
      { send: (p) => sent.push(p) },
      dhcpIdentity(m(name), mac),
      { giaddr: '10.77.0.1', timeoutMs: 1000, retries: 1 },
      0x1234,
    );
    machine.start(0);
    const r = decodeDhcp(sent[0]!);
    if (!r.ok) throw new Error(r.error.message);
    return r.message.options;
  };

  it('1230: option 60 "Nortel-SIP-Phone-A" with its NUL, 57 = 1190, 61 = 01 + MAC, 12 = T + MAC', () => {
    const o = discover('1230', '00:17:65:fd:bf:1d');
    expect(o.raw(60)!.toString('latin1')).toBe('Nortel-SIP-Phone-A\0');
    expect(o.vendorClass()).toBe('Nortel-SIP-Phone-A');
    expect(o.maxMessageSize()).toBe(1190);
    expect(o.raw(61)!.toString('hex')).toBe('01001765fdbf1d');
    expect(o.get(61)).toMatchObject({ type: 1, mac: '00:17:65:fd:bf:1d' });
    expect(o.get(12)).toBe('T001765FDBF1D');
    expect(o.requestedOptions()).toEqual(m('1230').dhcp.parameterRequestList);
  });

  it('440HD: the model name in options 60 and 77', () => {
    const o = discover('440HD', '00:90:8f:12:34:56');
    expect(o.get(60)).toBe('440HD');
    expect(o.userClasses()).toEqual(['440HD']);
    expect(o.requestedOptions()).toEqual([1, 3, 6, 15, 42, 43, 66, 67, 160]);
  });

  it('refuses a MAC that is not one', () => {
    expect(() => dhcpIdentity(m('9608'), '00:04:0d')).toThrow(RangeError);
  });

  it('1608: 55 ends with the site-specific option 242, no option 60', () => {
    const o = discover('1608', '00:04:0d:aa:bb:01');
    expect(o.requestedOptions()).toEqual([1, 3, 6, 7, 15, 26, 42, 242]);
    expect(o.get(60)).toBeUndefined();
    expect(o.maxMessageSize()).toBe(1000);
  });
});

describe('customizing a model', () => {
  it('replaces values, merges nested objects, marks them configured and leaves the original alone', () => {
    const base = m('9608');
    const c = customizeModel(base, { dhcp: { vendorClass: 'site-phones' }, tftp: { options: { blksize: '1428' } } });
    expect(c.dhcp.vendorClass).toBe('site-phones');
    expect(c.dhcp.siteSpecificOption).toBe(242);
    expect(c.tftp).toEqual({ ...base.tftp, options: { blksize: '1428' } });
    expect(c.provenance['dhcp.vendorClass']).toEqual({ source: 'configured', verified: false });
    expect(base.dhcp.vendorClass).toBe('ccp.avaya.com');
  });

  it('formats MACs the ways the phones spell them', () => {
    expect(formatMac('00-04-0D-AA-BB-01', 'colon-lower')).toBe('00:04:0d:aa:bb:01');
    expect(formatMac('00040daabb01', 'hex-upper')).toBe('00040DAABB01');
    expect(formatMac('00:04:0d', 'hex-lower')).toBeUndefined();
  });
});
