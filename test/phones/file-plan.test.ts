import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avaya43, buildDhcp, decodeDhcp, type DhcpMessage, encodeOption } from '../../packages/dhcp/src/codec/index.js';
import {
  findModel,
  fwDirective,
  parseSip1200Provisioning,
  PHONE_MODELS,
  planFileServers,
  sip1200ImageServer,
} from '../../packages/bootwire/src/phones/index.js';

const text = (s: string) => Buffer.from(s, 'latin1');

/** A real ACK on the wire, decoded by the codec: what the boot simulator will hand the plan. */
function ack(options: Array<[number, Buffer]>, siaddr = '0.0.0.0'): DhcpMessage {
  const bytes = buildDhcp({
    op: 2,
    xid: 1,
    yiaddr: '10.77.0.100',
    siaddr,
    chaddr: '00:04:0d:aa:bb:01',
    options: [[53, Buffer.from([5])], [54, Buffer.from([10, 77, 0, 1])], [51, Buffer.from([0, 0, 14, 16])], ...options],
    maxSize: 1500,
  }).bytes;
  const r = decodeDhcp(bytes);
  if (!r.ok) throw new Error(r.error.message);
  return r.message;
}

const plan = (model: string, options: Array<[number, Buffer]>, siaddr?: string, mac?: string) =>
  planFileServers(findModel(model)!, ack(options, siaddr), mac !== undefined ? { mac } : {});
const servers = (p: ReturnType<typeof plan>) =>
  p.servers.map((s) => `${s.protocol}://${s.host}:${s.port}/${s.pathPrefix} (${s.source})`);

describe('file-server plan: Avaya 4600', () => {
  it('option 176 overrides option 66; HTTP before TFTP; TFTPDIR; MCIPADD list and MCPORT', () => {
    const p = plan('4610', [
      [66, text('10.0.0.9')],
      [176, text('MCIPADD=10.0.0.5,10.0.0.6,MCPORT=1719,TFTPDIR=phones,TFTPSRVR=10.0.0.1,HTTPSRVR=10.0.0.2')],
    ]);
    expect(servers(p)).toEqual([
      'http://10.0.0.2:80/ (option 176 HTTPSRVR)',
      'tftp://10.0.0.1:69/phones/ (option 176 TFTPSRVR)',
    ]);
    expect(p.noTftpAfterHttp).toBe(true);
    expect(p.files).toEqual({ script: '46xxupgrade.scr' });
    expect(p.callServer).toEqual({ addresses: ['10.0.0.5', '10.0.0.6'], port: 1719, sipControllers: [] });
    expect(p.parameters[0]).toEqual({ name: 'TFTPSRVR', value: '10.0.0.9', source: 'option 66' });
    expect(p.warnings).toEqual([]);
  });

  it('option 66 alone: a list of TFTP servers tried in order; TLSSRVR goes first on port 411', () => {
    expect(servers(plan('4620', [[66, text('10.0.0.9,10.0.0.10')]]))).toEqual([
      'tftp://10.0.0.9:69/ (option 66 TFTPSRVR)',
      'tftp://10.0.0.10:69/ (option 66 TFTPSRVR)',
    ]);
    expect(servers(plan('4620', [[176, text('TLSSRVR=10.0.0.3,HTTPSRVR=10.0.0.2,HTTPPORT=8080')]]))).toEqual([
      'https://10.0.0.3:411/ (option 176 TLSSRVR)',
      'http://10.0.0.2:8080/ (option 176 HTTPSRVR)',
    ]);
  });

  it('warns when TFTPDIR follows TFTPSRVR and when a port is not a port', () => {
    const p = plan('4610', [[176, text('TFTPSRVR=10.0.0.1,TFTPDIR=x,HTTPSRVR=10.0.0.2,HTTPPORT=99999')]]);
    expect(p.warnings).toEqual([
      'option 176: TFTPDIR comes after TFTPSRVR (the manuals ask for TFTPDIR first)',
      'HTTPPORT=99999 is not a port; using 80',
    ]);
  });
});

describe('file-server plan: Avaya 1600 and 9600 SIP', () => {
  it('1608: siaddr is HTTPSRVR unless 242 sets it; no TFTP', () => {
    expect(servers(plan('1608', [], '10.0.0.3'))).toEqual(['http://10.0.0.3:80/ (siaddr HTTPSRVR)']);
    const p = plan('1608', [[242, text('HTTPSRVR=10.0.0.2,HTTPDIR=/16xx/,TFTPSRVR=10.0.0.1')]], '10.0.0.3');
    expect(servers(p)).toEqual(['http://10.0.0.2:80/16xx/ (option 242 HTTPSRVR)']);
    expect(p.warnings).toEqual(['TFTPSRVR ignored: the 1608 does not use TFTP']);
  });

  it('9608: 242 over 43 over siaddr, parameter by parameter; SIP_CONTROLLER_LIST is the call server', () => {
    const p = plan(
      '9608',
      [
        encodeOption(43, avaya43({ HTTPSRVR: '10.0.0.4', HTTPPORT: '8080', L2QVLAN: '20' })),
        [242, text('HTTPSRVR=10.0.0.2,SIP_CONTROLLER_LIST=10.0.0.5:5060;transport=tcp')],
      ],
      '10.0.0.3',
    );
    expect(servers(p)).toEqual(['http://10.0.0.2:8080/ (option 242 HTTPSRVR)']);
    expect(p.files.script).toBe('96x1Supgrade.txt');
    expect(p.callServer).toEqual({
      addresses: ['10.0.0.5:5060;transport=tcp'],
      sipControllers: ['10.0.0.5:5060;transport=tcp'],
    });
    expect(p.parameters.map((x) => `${x.source}: ${x.name}`)).toEqual([
      'siaddr: HTTPSRVR',
      'option 43.2: HTTPSRVR',
      'option 43.4: HTTPPORT',
      'option 43.10: L2QVLAN',
      'option 242: HTTPSRVR',
      'option 242: SIP_CONTROLLER_LIST',
    ]);
  });

  it('9611: option 43 alone (Avaya 6889) gives HTTPSRVR; a non-Avaya 43 is ignored with a warning', () => {
    expect(
      servers(plan('9611', [encodeOption(43, avaya43({ HTTPSRVR: '10.0.0.4', TLSSRVR: '10.0.0.4', TLSPORT: '443' }))])),
    ).toEqual(['https://10.0.0.4:443/ (option 43.5 TLSSRVR)', 'http://10.0.0.4:80/ (option 43.2 HTTPSRVR)']);
    const p = plan('9611', [[43, Buffer.from([1, 4, 0x31, 0x32, 0x33, 0x34, 2, 1, 0x41])]]);
    expect(p.servers).toEqual([]);
    expect(p.warnings).toEqual([
      'option 43 is not Avaya\'s (sub-option 1 is not "6889"): ignored',
      'no file server for the 9611 in this DHCP answer',
    ]);
  });

  it('9620 does not read option 66 (an HTTP-only phone): 242 or siaddr only', () => {
    const p = plan('9620', [[66, text('10.0.0.9')]]);
    expect(p.servers).toEqual([]);
    expect(
      servers(
        plan('9620', [
          [66, text('10.0.0.9')],
          [242, text('HTTPSRVR=10.0.0.2')],
        ]),
      ),
    ).toEqual(['http://10.0.0.2:80/ (option 242 HTTPSRVR)']);
  });
});

describe('file-server plan: Avaya 1200 SIP', () => {
  it('an address in option 66 is a TFTP server; a URL gives protocol, host, port and directory', () => {
    expect(servers(plan('1230', [[66, text('10.0.0.7')]]))).toEqual(['tftp://10.0.0.7:69/ (option 66)']);
    expect(servers(plan('1220', [[66, text('http://prov.example.com:8080/sip/phones')]]))).toEqual([
      'http://prov.example.com:8080/sip/phones/ (option 66)',
    ]);
    expect(servers(plan('1230', [[66, text('ftp://user;pass@10.0.0.7/ABC')]]))).toEqual([
      'ftp://10.0.0.7:21/ABC/ (option 66)',
    ]);
    expect(plan('1230', [[66, text('10.0.0.7')]]).files).toEqual({ script: '1230SIP.cfg' });
  });

  it('the [FW] image comes from SERVER_IP with PROTOCOL, or from the provisioning server', () => {
    const prov = plan('1230', [[66, text('tftp://10.0.0.7:6969/sip')]]).servers[0]!;
    const fw = (extra: string) =>
      fwDirective(parseSip1200Provisioning(`[FW]\nVERSION SIP12x004.04.09.00\nFILENAME fw.bin\n${extra}`))!;
    expect(sip1200ImageServer(fw(''), prov)).toEqual({
      protocol: 'tftp',
      host: '10.0.0.7',
      port: 6969,
      pathPrefix: 'sip/',
      source: '[FW] provisioning server',
    });
    expect(sip1200ImageServer(fw('PROTOCOL HTTP\n'), prov)).toEqual({
      protocol: 'http',
      host: '10.0.0.7',
      port: 80,
      pathPrefix: '',
      source: '[FW] provisioning server',
    });
    expect(sip1200ImageServer(fw('SERVER_IP 10.0.0.8\n'), prov)).toEqual({
      protocol: 'tftp',
      host: '10.0.0.8',
      port: 69,
      pathPrefix: '',
      source: '[FW] SERVER_IP',
    });
  });

  it('an unusable option 66, or none, gives no server and a warning', () => {
    expect(plan('1230', [[66, text('gopher://x/')]]).warnings).toEqual(['option 66: unsupported protocol "gopher"']);
    expect(plan('1230', []).warnings).toEqual(['no option 66: the 1230 has no provisioning server']);
  });
});

describe('file-server plan: AudioCodes 400HD', () => {
  const MAC = '00:90:8f:12:34:56';

  it('option 160 wins over 66+67; macros <MODEL> and <MAC> are filled in', () => {
    const p = plan(
      '440HD',
      [
        [66, text('10.0.0.9')],
        [67, text('x.img')],
        [160, text('http://10.0.0.8/phones/<MODEL>.img;<MAC>.cfg')],
      ],
      undefined,
      MAC,
    );
    expect(servers(p)).toEqual(['http://10.0.0.8:80/phones/ (option 160)']);
    expect(p.files).toEqual({ image: '440HD.img', config: '00908f123456.cfg' });
  });

  it('66 + 67: the TFTP server and the firmware file name; defaults otherwise', () => {
    const p = plan(
      '420HD',
      [
        [66, text('10.0.0.9')],
        [67, text('fw/420HD.img')],
      ],
      undefined,
      MAC,
    );
    expect(servers(p)).toEqual(['tftp://10.0.0.9:69/fw/ (option 66)']);
    expect(p.files).toEqual({ image: '420HD.img', config: '00908f123456.cfg' });
    expect(plan('420HD', [[66, text('10.0.0.9')]], undefined, MAC).files).toEqual({
      image: '420HD.img',
      config: '00908f123456.cfg',
    });
  });

  it('option 43 as a URL is the last resort; a bad 160 falls through to the next source', () => {
    expect(servers(plan('440HD', [[43, text('10.0.0.6')]], undefined, MAC))).toEqual([
      'tftp://10.0.0.6:69/ (option 43)',
    ]);
    const p = plan(
      '440HD',
      [
        [160, text('ftp://10.0.0.8/fw.bin')],
        [66, text('10.0.0.9')],
      ],
      undefined,
      MAC,
    );
    expect(servers(p)).toEqual(['tftp://10.0.0.9:69/ (option 66)']);
    expect(p.warnings).toEqual(['option 160: firmware file "fw.bin" does not end in .img']);
  });

  it('nothing usable: no server, default file names', () => {
    const p = plan('440HD', [], undefined, MAC);
    expect(p.servers).toEqual([]);
    expect(p.files).toEqual({ image: '440HD.img', config: '00908f123456.cfg' });
  });
});

describe('file-server plan: hostile DHCP answers', () => {
  it('random bytes in every option the phones read never throw, for every model', () => {
    const bytes = fc.uint8Array({ maxLength: 300 });
    fc.assert(
      fc.property(bytes, bytes, bytes, bytes, bytes, bytes, fc.ipV4(), (o43, o66, o67, o160, o176, o242, siaddr) => {
        const opts: Array<[number, Buffer]> = [
          [43, Buffer.from(o43)],
          [66, Buffer.from(o66)],
          [67, Buffer.from(o67)],
          [160, Buffer.from(o160)],
          [176, Buffer.from(o176)],
          [242, Buffer.from(o242)],
        ];
        // On the wire and decoded, as a phone gets them (RFC 3396 splits the long ones).
        const r = decodeDhcp(buildDhcp({ op: 2, xid: 1, siaddr, options: opts, maxSize: 65535 }).bytes);
        if (!r.ok) throw new Error(r.error.message);
        const a = r.message;
        for (const model of PHONE_MODELS) {
          const p = planFileServers(model, a, { mac: '00:04:0d:aa:bb:01' });
          for (const s of p.servers) {
            expect(s.port).toBeGreaterThanOrEqual(1);
            expect(s.port).toBeLessThanOrEqual(65535);
            expect(s.pathPrefix.startsWith('/')).toBe(false);
            expect(s.pathPrefix.split('/')).not.toContain('..');
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
