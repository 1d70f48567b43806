/** The pure parts of the phones' backup (BRURI) and FTP logins: names, URLs, credentials. */
import { describe, expect, it } from 'vitest';
import { buildDhcp, decodeDhcp } from '../../packages/dhcp/src/index.js';
import { backupFileName, backupPlan, phoneExtension } from '../../packages/bootwire/src/boot/backup.js';
import { planFileServers, sip1200ImageServer } from '../../packages/bootwire/src/phones/file-plan.js';
import { findModel } from '../../packages/bootwire/src/phones/models.js';
import { fwDirective, parseSip1200Provisioning } from '../../packages/bootwire/src/phones/sip1200-config.js';

const m = (name: string) => findModel(name)!;

describe('BRURI', () => {
  it('names the data file per family, only for the 1600 and 9600', () => {
    expect(backupFileName(m('1608'), '299')).toBe('299_16xxdata.txt');
    expect(backupFileName(m('9608'), '299')).toBe('299_96xxdata.txt');
    expect(backupFileName(m('9640'), '299')).toBe('299_96xxdata.txt');
    expect(backupFileName(m('4610'), '299')).toBeUndefined();
    expect(backupFileName(m('1230'), '299')).toBeUndefined();
    expect(phoneExtension('00:04:0d:00:00:03')).toBe('2003');
    expect(phoneExtension('00:04:0d:00:ff:ff')).toBe(String(2000 + (0xffff % 8000)));
  });

  it('appends the file name with one slash, as the guides say', () => {
    const v = (uri: string, extra: Record<string, string> = {}) => new Map(Object.entries({ BRURI: uri, ...extra }));
    const a = backupPlan(m('1608'), '00:04:0d:00:00:03', v('http://10.0.0.9/backup/'));
    const b = backupPlan(m('1608'), '00:04:0d:00:00:03', v('http://10.0.0.9:8080/a/b'));
    expect(a && 'url' in a && a.url.href).toBe('http://10.0.0.9/backup/2003_16xxdata.txt');
    expect(b && 'url' in b && b.url.href).toBe('http://10.0.0.9:8080/a/b/2003_16xxdata.txt');
    const t = backupPlan(m('9608'), '00:04:0d:00:00:03', v('https://h/', { BRAUTH: '1' }));
    expect(t).toMatchObject({ protocol: 'https', sendAuth: true, file: '2003_96xxdata.txt' });
    expect(backupPlan(m('1608'), '00:04:0d:00:00:03', new Map())).toBeUndefined();
    expect(backupPlan(m('4610'), '00:04:0d:00:00:03', v('http://h/'))).toBeUndefined();
    expect(backupPlan(m('1608'), '00:04:0d:00:00:03', v('ftp://h/'))).toEqual({
      error: 'BRURI "ftp://h/": backups go over HTTP or HTTPS',
    });
    expect(backupPlan(m('1608'), '00:04:0d:00:00:03', v('not a uri'))).toHaveProperty('error');
  });
});

describe('FTP logins', () => {
  /** A real ACK carrying these options as text (the plan reads them through the typed codec). */
  const ack = (opts: Record<number, string>) => {
    const r = decodeDhcp(
      buildDhcp({
        op: 2,
        options: [
          [53, Buffer.from([5])],
          ...Object.entries(opts).map(([c, v]) => [Number(c), Buffer.from(v)] as [number, Buffer]),
        ],
      }).bytes,
    );
    if (!r.ok) throw new Error(r.error.message);
    return r.message;
  };

  it('option 66 ftp://user;pass@host gives the 1200 its login; the 400HD takes user:pass@', () => {
    const p = planFileServers(m('1230'), ack({ 66: 'ftp://prov;pw@10.0.0.1:2121/phones' }));
    expect(p.servers[0]).toMatchObject({
      protocol: 'ftp',
      host: '10.0.0.1',
      port: 2121,
      pathPrefix: 'phones/',
      credentials: { user: 'prov', password: 'pw' },
    });
    expect(planFileServers(m('1230'), ack({ 66: 'ftp://10.0.0.1' })).servers[0]!.credentials).toBeUndefined();
    const hd = planFileServers(m('440HD'), ack({ 160: 'ftp://u:p@10.0.0.1/<MODEL>.img' }), {
      mac: '00:90:8f:00:00:01',
    });
    expect(hd.servers[0]).toMatchObject({ protocol: 'ftp', credentials: { user: 'u', password: 'p' } });
  });

  it('[FW] SRV_USER_NAME/SRV_USER_PASS log in for the image; without them the provisioning login is kept', () => {
    const prov = {
      protocol: 'ftp' as const,
      host: '10.0.0.1',
      port: 21,
      pathPrefix: '',
      source: 'option 66',
      credentials: { user: 'prov', password: 'pw' },
    };
    const fw = fwDirective(
      parseSip1200Provisioning(
        '[FW]\nVERSION SIP12x004.04.09.00\nFILENAME x.bin\nPROTOCOL FTP\nSRV_USER_NAME fw\nSRV_USER_PASS s\n',
      ),
    )!;
    expect(sip1200ImageServer(fw, prov).credentials).toEqual({ user: 'fw', password: 's' });
    const plain = fwDirective(
      parseSip1200Provisioning('[FW]\nVERSION SIP12x004.04.09.00\nFILENAME x.bin\nPROTOCOL FTP\n'),
    )!;
    expect(sip1200ImageServer(plain, prov).credentials).toEqual({ user: 'prov', password: 'pw' });
    expect(sip1200ImageServer({ ...plain, serverIp: '10.0.0.2' }, prov).credentials).toBeUndefined();
  });
});
