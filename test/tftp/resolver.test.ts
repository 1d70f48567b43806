/**
 * The resolver contract over TFTP (src/files/resolver.ts): bytes of any view served exactly (a slice
 * of Node's shared pool, a view deep inside a big buffer, a SharedArrayBuffer's view for the workers),
 * streams, refusals, and resolvers that throw, reject, hang or return garbage: ERROR 0 to that client,
 * while another client is served. Events carry the phone. Runs with workers and on the main thread,
 * and (vitest project `dgram`) on node:dgram.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ImageCache } from '../../packages/core/src/files/image-cache.js';
import { nameRules } from '../../packages/core/src/files/names.js';
import { parseRemapRules } from '../../packages/core/src/files/remap.js';
import type { ClientInfo, Resolution, Resolver } from '../../packages/core/src/files/resolver.js';
import { createRootResolver } from '../../packages/core/src/files/root-resolver.js';
import type { Phone } from '../../packages/core/src/server/phones.js';
import type { TftpTransferRecord } from '../../packages/core/src/server/records.js';
import { TftpError, tftpGetBuffer, tftpPut } from '../../packages/tftp/src/client.js';
import { ErrorCode } from '../../packages/tftp/src/packet.js';
import { TftpServer, type TftpServerOptions } from '../../packages/tftp/src/server.js';
import { faultyResolver, poolSlice, type RecordedEvents, recordEvents } from '../helpers/resolvers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const servers: TftpServer[] = [];
let root: string;
let workers = 2;

interface Started extends RecordedEvents<TftpTransferRecord> {
  server: TftpServer;
  port: number;
}

async function start(o: Partial<TftpServerOptions>): Promise<Started> {
  const server = await TftpServer.start({ host: '127.0.0.1', port: 0, timeoutMs: 200, maxRetries: 4, workers, ...o });
  servers.push(server);
  return { server, port: server.address().port, ...recordEvents<TftpTransferRecord>(server) };
}

const get = (
  port: number,
  filename: string,
  o: { blksize?: number; windowsize?: number; tsize?: boolean; localAddress?: string } = {},
) => tftpGetBuffer({ host: '127.0.0.1', port, filename, timeoutMs: 300, maxRetries: 3, ...o });

async function refused(p: Promise<unknown>): Promise<TftpError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TftpError);
  expect((e as TftpError).by).toBe('peer');
  return e as TftpError;
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-resolver-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

for (const w of [2, 0])
  describe(`TFTP resolver, ${w ? `${w} transfer workers` : 'transfers on the main thread'}`, () => {
    beforeAll(() => {
      workers = w;
    });

    it(
      "bytes: a slice of Node's buffer pool, a view deep in a big buffer, a SharedArrayBuffer view: " +
        'exactly the view',
      async () => {
        const slice = poolSlice('SET SIP_CONTROLLER_LIST 10.0.0.1\nSET TIMEZONE Europe/Paris\n'.repeat(2));
        const big = randomBytes(1 << 20);
        const deep = new Uint8Array(big.buffer, big.byteOffset + 123_457, 200_000);
        const sab = new SharedArrayBuffer(300_000);
        const shared = new Uint8Array(sab, 4099, 150_001);
        shared.set(randomBytes(150_001));
        const content: Record<string, Uint8Array> = { 'slice.cfg': slice, 'deep.bin': deep, 'shared.bin': shared };
        const { server, port, ends } = await start({
          resolver: (req) =>
            content[req.name]
              ? { kind: 'bytes', bytes: content[req.name]!, name: `gen/${req.name}` }
              : { kind: 'refusal', reason: 'not-found' },
        });
        for (const [name, bytes] of Object.entries(content)) {
          for (const o of [{}, { blksize: 1428, tsize: true }, { blksize: 8192, windowsize: 8 }]) {
            const { data, info } = await get(port, name, o);
            expect(sha(data), `${name} ${JSON.stringify(o)}`).toBe(sha(bytes));
            if ('tsize' in o) expect(info.tsize).toBe(bytes.byteLength);
          }
        }
        await server.idle(); // a transfer's record comes when the server has its final ACK
        expect(ends.filter((r) => r.ok).map((r) => r.file)).toContain('gen/slice.cfg');
      },
    );

    it("the issue's trap: a cache that returns an ordinary Buffer (a pool slice) is served from the view", async () => {
      const slice = poolSlice('the file, and nothing of the pool around it\n');
      const cache = {
        acquire: async () => ({
          file: {
            path: '/x',
            bytes: slice,
            size: slice.length,
            mtimeMs: 0,
            ino: 1,
            memo: <T>(_k: string, f: (b: Buffer) => T) => f(slice),
          },
          release: () => {},
        }),
      } as unknown as ImageCache;
      const { port } = await start({ resolver: () => ({ kind: 'file', path: '/anything' }), cache });
      const { data } = await get(port, 'x.cfg');
      expect(data.toString()).toBe(slice.toString());
    });

    it(
      'stream: read whole (tsize known), bounded; a stream that fails, lies about its size or runs ' +
        'past the limit is ERROR 0',
      async () => {
        const chunks = Array.from({ length: 40 }, () => randomBytes(2500 + Math.floor(Math.random() * 100)));
        const whole = Buffer.concat(chunks);
        async function* gen(fail = false) {
          for (const [i, c] of chunks.entries()) {
            await new Promise((r) => setImmediate(r));
            if (fail && i === 10) throw new Error('database went away');
            yield c;
          }
        }
        const resolver: Resolver = (req) => {
          if (req.name === 'gen') return { kind: 'stream', stream: gen() };
          if (req.name === 'sized') return { kind: 'stream', stream: gen(), size: whole.length };
          if (req.name === 'liar') return { kind: 'stream', stream: gen(), size: whole.length - 1 };
          if (req.name === 'fails') return { kind: 'stream', stream: gen(true) };
          if (req.name === 'strings')
            return {
              kind: 'stream',
              stream: (async function* () {
                yield 'text' as unknown as Uint8Array;
              })(),
            };
          return { kind: 'refusal', reason: 'not-found' };
        };
        const { server, port, warnings, ends } = await start({ resolver, maxStreamBytes: whole.length + 10 });
        for (const name of ['gen', 'sized']) {
          const { data, info } = await get(port, name, { blksize: 1024, tsize: true });
          expect(sha(data), name).toBe(sha(whole));
          expect(info.tsize).toBe(whole.length);
        }
        for (const name of ['liar', 'fails', 'strings']) {
          const e = await refused(get(port, name));
          expect(e.code, name).toBe(ErrorCode.NOT_DEFINED);
          expect(e.tftpMessage).toBe(`cannot read "${name}"`);
        }
        expect(warnings.map((w) => w.code)).toEqual(['stream-failed', 'stream-failed', 'stream-failed']);
        expect(warnings.map((w) => w.message)).toEqual([
          '"liar": stream ran past its size of ' + (whole.length - 1) + ' bytes',
          '"fails": stream failed: database went away',
          '"strings": stream produced something that is not bytes',
        ]);
        const small = await start({ resolver, maxStreamBytes: 1000 });
        expect((await refused(get(small.port, 'gen'))).code).toBe(ErrorCode.NOT_DEFINED);
        expect(small.warnings[0]!.message).toBe('"gen": stream ran past the limit of 1000 bytes');
        await server.idle();
        expect(ends.filter((r) => !r.ok).map((r) => r.error)).toEqual(
          ['liar', 'fails', 'strings'].map((n) => ({ code: 0, message: `cannot read "${n}"`, by: 'local' })),
        );
      },
    );

    it(
      'refusals: not-found ERROR 1, forbidden ERROR 2, invalid ERROR 4, with the message given or a ' + 'default',
      async () => {
        const { port, ends } = await start({
          resolver: (req): Resolution => {
            if (req.name === 'gone') return { kind: 'refusal', reason: 'not-found', message: 'no such phone' };
            if (req.name === 'secret') return { kind: 'refusal', reason: 'forbidden' };
            return { kind: 'refusal', reason: 'invalid' };
          },
        });
        const cases: [string, number, string][] = [
          ['gone', ErrorCode.FILE_NOT_FOUND, 'no such phone'],
          ['secret', ErrorCode.ACCESS_VIOLATION, 'access to "secret" denied'],
          ['bad', ErrorCode.ILLEGAL_OPERATION, 'file name "bad" is not valid'],
        ];
        for (const [name, code, message] of cases) {
          const e = await refused(get(port, name));
          expect([e.code, e.tftpMessage]).toEqual([code, message]);
        }
        expect(ends.map((r) => [r.name, r.ok, r.bytes, r.error?.code])).toEqual(
          cases.map(([n, c]) => [n, false, 0, c]),
        );
      },
    );

    it(
      'a resolver that throws, rejects, hangs or returns garbage: ERROR 0 to that client, the others ' +
        'served meanwhile',
      async () => {
        const good = poolSlice('good content\n');
        const { resolver, hung } = faultyResolver(good, {
          null: () => null,
          'unknown-kind': () => ({ kind: 'symlink', path: '/etc/passwd' }),
          'bad-bytes': () => ({ kind: 'bytes', bytes: 'a string' }),
          'relative-file': () => ({ kind: 'file', path: 'etc/passwd' }),
          'bad-reason': () => ({ kind: 'refusal', reason: 'because' }),
        });
        const { port, server, warnings } = await start({ resolver, resolveTimeoutMs: 1500 });
        // The hanging request is pending while other clients are served.
        const hanging = refused(
          tftpGetBuffer({ host: '127.0.0.1', port, filename: 'hangs', timeoutMs: 2500, maxRetries: 1 }),
        );
        await new Promise((r) => setTimeout(r, 100));
        expect(hung()).toBe(1);
        const names = ['throws', 'rejects', 'null', 'unknown-kind', 'bad-bytes', 'relative-file', 'bad-reason'];
        const results = await Promise.all([
          ...names.map((n) => refused(get(port, n))),
          get(port, 'good.cfg'),
          get(port, 'other.cfg', { blksize: 1468 }),
        ]);
        for (const [i, n] of names.entries()) {
          const e = results[i] as TftpError;
          expect([e.code, e.tftpMessage], n).toEqual([ErrorCode.NOT_DEFINED, `cannot resolve "${n}"`]);
        }
        expect((results[names.length] as { data: Buffer }).data.toString()).toBe('good content\n');
        expect((results[names.length + 1] as { data: Buffer }).data.toString()).toBe('good content\n');
        const h = await hanging;
        expect([h.code, h.tftpMessage]).toEqual([ErrorCode.NOT_DEFINED, 'cannot resolve "hangs"']);
        expect(warnings.every((w) => w.code === 'resolver-failed')).toBe(true);
        const byName = Object.fromEntries(warnings.map((w) => [/^"([^"]+)"/.exec(w.message)![1], w.message]));
        expect(byName).toMatchObject({
          throws: '"throws": resolver failed: boom',
          rejects: '"rejects": resolver failed: async boom',
          hangs: '"hangs": resolver did not answer within 1500 ms',
          null: '"null": resolver returned null, not a resolution',
          'unknown-kind': '"unknown-kind": resolver returned an object of no known kind',
          'bad-bytes': '"bad-bytes": resolver returned bytes that are not a Uint8Array',
          'relative-file': '"relative-file": resolver returned a file without an absolute path',
          'bad-reason': '"bad-reason": resolver returned a refusal without a known reason',
        });
        // Still serving, nothing left running.
        expect((await get(port, 'after.cfg')).data.toString()).toBe('good content\n');
        await server.idle();
        expect(server.stats().activeTransfers).toBe(0);
      },
    );

    it('events: transfer-start and transfer-end name the phone the directory knows; the resolver sees it', async () => {
      const phone: Phone = { mac: '00:90:8f:b0:00:09', model: '440HD', vendorClass: '440HD' };
      const seen: ClientInfo[] = [];
      const bytes = randomBytes(5000);
      const { server, port, starts, ends } = await start({
        phones: { phoneAt: (a) => (a === '127.0.0.1' ? phone : undefined) },
        resolver: (req, client) => {
          seen.push(client);
          return req.name === 'x.cfg'
            ? { kind: 'bytes', bytes, name: 'x.cfg' }
            : { kind: 'refusal', reason: 'not-found' };
        },
      });
      await get(port, 'x.cfg', { blksize: 1024 });
      await refused(get(port, 'missing.cfg'));
      await server.idle();
      expect(seen.map((c) => [c.address, c.phone])).toEqual([
        ['127.0.0.1', phone],
        ['127.0.0.1', phone],
      ]);
      expect(starts).toEqual([
        {
          protocol: 'tftp',
          client: { address: '127.0.0.1', port: expect.any(Number) },
          phone: { mac: phone.mac, model: '440HD' },
          direction: 'read',
          name: 'x.cfg',
          file: 'x.cfg',
          size: 5000,
        },
      ]);
      const byName = (n: string) => ends.find((r) => r.name === n)!;
      expect(ends).toHaveLength(2);
      expect(byName('x.cfg')).toMatchObject({
        protocol: 'tftp',
        phone: { mac: phone.mac, model: '440HD' },
        direction: 'read',
        name: 'x.cfg',
        file: 'x.cfg',
        size: 5000,
        bytes: 5000,
        blksize: 1024,
        ok: true,
      });
      expect(byName('missing.cfg')).toMatchObject({
        protocol: 'tftp',
        phone: { mac: phone.mac, model: '440HD' },
        name: 'missing.cfg',
        ok: false,
        bytes: 0,
        error: { code: 1, by: 'local' },
      });
      expect(byName('missing.cfg').file).toBeUndefined();
    });

    it(
      'the root resolver with name rules: lowercase, remap, a directory per client; uploads follow the ' + 'P rules',
      async () => {
        const dir = await fs.mkdtemp(path.join(root, 'names-'));
        await fs.mkdir(path.join(dir, '127.0.0.1'));
        await fs.mkdir(path.join(dir, 'up'));
        await fs.writeFile(path.join(dir, 'sipdefault.cnf'), 'shared defaults\n');
        await fs.writeFile(path.join(dir, 'phone.cfg'), 'for everyone\n');
        await fs.writeFile(path.join(dir, '127.0.0.1', 'phone.cfg'), 'for 127.0.0.1 only\n');
        await fs.writeFile(path.join(dir, 'fw.img'), 'firmware\n');
        const rules = parseRemapRules('rG ^firmware/ \nrP ^ up/\na \\.exe$ no\\ programs');
        if (!rules.ok) throw new Error(rules.message);
        const names = nameRules({ lowercase: true, remap: rules.rules })!;
        const resolver = await createRootResolver({ root: dir, names, uniqueRoot: 'ip' });
        const { server, port, ends } = await start({ root: dir, resolver, allowWrite: true });
        expect((await get(port, 'SIPDefault.CNF')).data.toString()).toBe('shared defaults\n');
        expect((await get(port, 'Phone.cfg')).data.toString()).toBe('for 127.0.0.1 only\n');
        expect((await get(port, 'firmware/FW.img')).data.toString()).toBe('firmware\n');
        const e = await refused(get(port, 'x.EXE'));
        expect([e.code, e.tftpMessage]).toEqual([ErrorCode.ACCESS_VIOLATION, 'no programs']);
        const nf = await refused(get(port, 'Missing.cfg'));
        expect([nf.code, nf.tftpMessage]).toEqual([ErrorCode.FILE_NOT_FOUND, '"Missing.cfg" not found']);
        await tftpPut({ host: '127.0.0.1', port, filename: 'Backup.TXT', timeoutMs: 300 }, Buffer.from('uploaded'));
        expect(await fs.readFile(path.join(dir, 'up', 'backup.txt'), 'utf8')).toBe('uploaded');
        await server.idle();
        expect(
          ends
            .filter((r) => r.ok)
            .map((r) => [r.direction, r.name, r.file])
            .sort(),
        ).toEqual([
          ['read', 'Phone.cfg', '127.0.0.1/phone.cfg'],
          ['read', 'SIPDefault.CNF', 'sipdefault.cnf'],
          ['read', 'firmware/FW.img', 'fw.img'],
          ['write', 'Backup.TXT', 'up/backup.txt'],
        ]);
      },
    );
  });
