/**
 * Names per phone with bootwire's DHCP server in the same process: phones get their leases by a
 * relayed DORA (bootwire's relay-style client), then fetch over TFTP and HTTP from their leased
 * loopback address (127.1.x.y: Linux answers any 127/8 address on lo). The phone directory the DHCP
 * server feeds gives the file servers each phone's MAC and model: `{mac}`, `{MAC}`, `{model}` in remap
 * rules, a directory per MAC falling back to the root, and records that name the phone. A restarted
 * DHCP server knows the phones from its lease file before they ask again.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RelayClient } from '../../packages/dhcp/src/client/relay-client.js';
import { DhcpServer } from '../../packages/dhcp/src/server/server.js';
import { nameRules } from '../../packages/core/src/files/names.js';
import { parseRemapRules } from '../../packages/core/src/files/remap.js';
import { createRootResolver, macDirectory } from '../../packages/core/src/files/root-resolver.js';
import { httpGet } from '../../packages/http/src/client.js';
import { HttpFileServer } from '../../packages/http/src/server.js';
import { modelOf, PhoneDirectory } from '../../packages/core/src/server/phones.js';
import type { TransferRecord } from '../../packages/core/src/server/records.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { TftpServer } from '../../packages/tftp/src/server.js';
import { loopbackDhcpServer } from '../helpers/dhcp-server.js';

let dir: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-phone-names-'));
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('the phone directory', () => {
  it('model: the vendor class when it names a model, else the class name, else the vendor class', () => {
    expect(modelOf('440HD', 'audiocodes-400hd')).toBe('440HD');
    expect(modelOf('420HD\0', undefined)).toBe('420HD');
    expect(modelOf('ccp.avaya.com', 'avaya-96xx')).toBe('avaya-96xx');
    expect(modelOf('Nortel-SIP-Phone-A\0', undefined)).toBe('Nortel-SIP-Phone-A');
    expect(modelOf(undefined, undefined)).toBeUndefined();
  });

  it('an address leased again belongs to its new phone; an expired lease names nobody', () => {
    let now = 1000;
    const d = new PhoneDirectory(() => now);
    d.bound('10.0.0.5', { mac: '00:90:8F:00:00:01', vendorClass: '440HD', expiresAt: 5000 });
    expect(d.phoneAt('10.0.0.5')).toEqual({ mac: '00:90:8f:00:00:01', model: '440HD', vendorClass: '440HD' });
    expect(d.phoneAt('::ffff:10.0.0.5')?.mac).toBe('00:90:8f:00:00:01');
    d.bound('10.0.0.5', { mac: '00:04:0d:00:00:02', className: 'avaya', expiresAt: 5000 });
    expect(d.phoneAt('10.0.0.5')).toEqual({ mac: '00:04:0d:00:00:02', model: 'avaya', className: 'avaya' });
    d.bound('0.0.0.0', { mac: '00:04:0d:00:00:03' });
    expect(d.size).toBe(1);
    now = 5000;
    expect(d.phoneAt('10.0.0.5')).toBeUndefined();
    expect(d.size).toBe(0);
  });
});

async function dhcpServer(relayPort: number, leases: string, phones: PhoneDirectory): Promise<DhcpServer> {
  const classes = [
    { name: 'audiocodes-400hd', match: { vendorClass: { regex: '^4[0-9]{2}HD$' } }, options: {} },
    { name: 'avaya-96xx', match: { vendorClass: 'ccp.avaya.com' }, options: {} },
  ];
  return loopbackDhcpServer({ dir, relayPort, leases, pool: '127.1.0.10-127.1.0.60', classes, phones });
}

const PHONES = [
  { mac: '00:90:8f:b0:00:09', vendorClass: '440HD' },
  { mac: '00:04:0d:aa:bb:01', vendorClass: 'ccp.avaya.com' },
  { mac: '00:11:22:33:44:55', vendorClass: 'unknown-vendor' },
];

describe('names per phone, DHCP in the same process', () => {
  it(
    'relayed DORA, then TFTP and HTTP from the leased address: {mac}, {MAC}, {model}, a directory ' +
      'per MAC, records with the phone',
    async () => {
      const root = path.join(dir, 'root');
      await fs.mkdir(root, { recursive: true });
      // The 400HD's own directory: its settings differ; everything else comes from the root.
      await fs.mkdir(path.join(root, macDirectory(PHONES[0]!.mac)));
      await fs.writeFile(
        path.join(root, macDirectory(PHONES[0]!.mac), 'settings.txt'),
        'settings of the 440HD on this desk\n',
      );
      await fs.writeFile(path.join(root, 'settings.txt'), 'settings for every phone\n');
      await fs.writeFile(path.join(root, 'phone.cfg'), 'no lease known: the default\n');
      for (const p of PHONES)
        await fs.writeFile(path.join(root, `${p.mac.replace(/:/g, '')}.cfg`), `config of ${p.mac}\n`);
      await fs.writeFile(path.join(root, '440HD.txt'), 'model 440HD\n');
      await fs.writeFile(path.join(root, 'avaya-96xx.txt'), 'model avaya-96xx\n');
      await fs.writeFile(path.join(root, 'unknown-vendor.txt'), 'model unknown-vendor\n');
      await fs.writeFile(path.join(root, 'SIP00040DAABB01.cfg'), 'uppercase name\n');
      const rules = parseRemapRules(
        ['r ^phone\\.cfg$ {mac}.cfg', 'r ^model\\.txt$ {model}.txt', 'r ^user\\.cfg$ SIP{MAC}.cfg'].join('\n'),
      );
      if (!rules.ok) throw new Error(rules.message);

      const phones = new PhoneDirectory();
      const resolver = await createRootResolver({ root, names: nameRules({ remap: rules.rules })!, uniqueRoot: 'mac' });
      const tftp = await TftpServer.start({
        root,
        resolver,
        phones,
        host: '127.0.0.1',
        port: 0,
        workers: 0,
        timeoutMs: 300,
      });
      closers.push(() => tftp.close(0));
      const http = await HttpFileServer.start({ root, resolver, phones, http: { host: '127.0.0.1', port: 0 } });
      closers.push(() => http.close(0));
      const records: TransferRecord[] = [];
      tftp.on('transfer-end', (r) => records.push(r));
      http.on('transfer-end', (r) => records.push(r));
      const client = await RelayClient.open({
        bind: { address: '127.0.0.2', port: 0 },
        server: { host: '127.0.0.1', port: 0 },
        timeoutMs: 500,
        retries: 4,
      });
      closers.push(() => client.close());
      const leases = path.join(dir, 'leases.db');
      let dhcp = await dhcpServer(client.address.port, leases, phones);
      closers.push(() => dhcp.close());
      client.setServer({ host: '127.0.0.1', port: dhcp.address().port });

      const addresses: string[] = [];
      for (const p of PHONES) {
        const r = await client.dora({ mac: p.mac, vendorClass: p.vendorClass, requestedOptions: [1, 3, 66] });
        if (!r.ok) throw new Error(r.error);
        addresses.push(r.lease.address);
      }
      expect(addresses.every((a) => a.startsWith('127.1.0.'))).toBe(true);
      const tftpGet = async (from: string, filename: string) =>
        (
          await tftpGetBuffer({
            host: '127.0.0.1',
            port: tftp.address().port,
            filename,
            localAddress: from,
            timeoutMs: 500,
          })
        ).data.toString();
      const webGet = async (from: string, name: string) =>
        (
          await httpGet(`http://127.0.0.1:${http.address('http')!.port}/${name}`, {
            localAddress: from,
            keepBody: true,
          })
        ).body!.toString();

      for (const [i, p] of PHONES.entries()) {
        const a = addresses[i]!;
        for (const fetch of [tftpGet, webGet]) {
          expect(await fetch(a, 'phone.cfg')).toBe(`config of ${p.mac}\n`);
          expect(await fetch(a, 'settings.txt')).toBe(
            i === 0 ? 'settings of the 440HD on this desk\n' : 'settings for every phone\n',
          );
        }
      }
      expect(await tftpGet(addresses[0]!, 'model.txt')).toBe('model 440HD\n');
      expect(await webGet(addresses[1]!, 'model.txt')).toBe('model avaya-96xx\n');
      expect(await tftpGet(addresses[2]!, 'model.txt')).toBe('model unknown-vendor\n');
      expect(await tftpGet(addresses[1]!, 'user.cfg')).toBe('uppercase name\n');
      // An address bootwire's DHCP did not lease: the rules that need a phone do not apply.
      expect(await tftpGet('127.1.0.200', 'phone.cfg')).toBe('no lease known: the default\n');
      expect(await webGet('127.1.0.200', 'settings.txt')).toBe('settings for every phone\n');

      const from = (r: TransferRecord) => r.client.address.replace(/^::ffff:/, '');
      const first = records.filter((r) => from(r) === addresses[0] && r.name === 'phone.cfg');
      expect(first.map((r) => [r.protocol, r.phone, r.file])).toEqual([
        ['tftp', { mac: PHONES[0]!.mac, model: '440HD' }, '00908fb00009.cfg'],
        ['http', { mac: PHONES[0]!.mac, model: '440HD' }, '00908fb00009.cfg'],
      ]);
      const own = records.find((r) => from(r) === addresses[0] && r.name === 'settings.txt');
      expect(own?.file).toBe(`${macDirectory(PHONES[0]!.mac)}/settings.txt`);
      expect(records.filter((r) => from(r) === '127.1.0.200').every((r) => r.phone === undefined)).toBe(true);

      // A restarted DHCP server tells the directory its bound leases at start: the MACs are known again
      // before any phone asks (the model only comes back with each phone's next DHCP exchange).
      await dhcp.close();
      const fresh = new PhoneDirectory();
      dhcp = await dhcpServer(client.address.port, leases, fresh);
      expect(PHONES.map((_, i) => fresh.phoneAt(addresses[i]!))).toEqual(PHONES.map((p) => ({ mac: p.mac })));
    },
  );
});
