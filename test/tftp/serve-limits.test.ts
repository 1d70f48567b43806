/**
 * The TFTP limits reach the server from `bootwire serve` flags and from the config file's tftp section
 * (flags typed on the command line win), and bad values are usage errors.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeTftp, encodeRequest } from '../../packages/tftp/src/codec.js';
import { Opcode, type TftpPacket } from '../../packages/tftp/src/packet.js';
import { CLI, serve, type Served } from '../boot/helpers.js';
import { run } from '../helpers/peers.js';
import { RawUdp } from '../helpers/raw-udp.js';

let dir: string;
const running: Served[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-serve-limits-'));
  await fs.mkdir(path.join(dir, 'root'));
  await fs.writeFile(path.join(dir, 'root', 'f.cfg'), 'x'.repeat(600));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The timeout options the server acknowledges for requests asking 3 and 9 seconds. */
async function acknowledgedTimeouts(port: number): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  for (const t of ['3', '9']) {
    const c = await RawUdp.open(); // a new TID each: a repeated request from one would only get its first answer again
    c.send(
      encodeRequest(Opcode.RRQ, 'f.cfg', 'octet', [
        { name: 'blksize', value: '512' },
        { name: 'timeout', value: t },
      ]),
      port,
    );
    const d = await c.next();
    const r = decodeTftp(d!.msg);
    if (!r.ok) throw new Error(r.error.message);
    const p = r.packet as TftpPacket & { opcode: typeof Opcode.OACK };
    expect(p.opcode).toBe(Opcode.OACK);
    out.push(p.options.find((o) => o.key === 'timeout')?.value);
    c.close();
  }
  return out;
}

describe('bootwire serve: TFTP limits', () => {
  it('--max-client-timeout caps the timeout option; the default (5 s) declines 9', async () => {
    const root = path.join(dir, 'root');
    const def = await serve(['--root', root, '--tftp', '127.0.0.1:0', '--grace', '0'], ['tftp']);
    running.push(def);
    expect(await acknowledgedTimeouts(def.ports.tftp!)).toEqual(['3', undefined]);
    const low = await serve(
      ['--root', root, '--tftp', '127.0.0.1:0', '--grace', '0', '--max-client-timeout', '2'],
      ['tftp'],
    );
    running.push(low);
    expect(await acknowledgedTimeouts(low.ports.tftp!)).toEqual([undefined, undefined]);
  });

  it('the config file sets them, a flag overrides it', async () => {
    const config = path.join(dir, 'bootwire.json');
    await fs.writeFile(
      config,
      JSON.stringify({
        root: 'root',
        tftp: {
          listen: '127.0.0.1:0',
          maxClientTimeout: 10,
          maxTransfersPerAddress: 4,
          maxRequestRate: 100,
          maxUnackedKb: 64,
          maxTransferSeconds: 60,
          retriesBeforeAnswer: 2,
        },
      }),
    );
    const fromFile = await serve(['--config', config, '--grace', '0'], ['tftp']);
    running.push(fromFile);
    expect(await acknowledgedTimeouts(fromFile.ports.tftp!)).toEqual(['3', '9']);
    const flagged = await serve(['--config', config, '--grace', '0', '--max-client-timeout', '4'], ['tftp']);
    running.push(flagged);
    expect(await acknowledgedTimeouts(flagged.ports.tftp!)).toEqual(['3', undefined]);
  });

  it('bad values are usage errors (exit 2, one line)', async () => {
    for (const args of [
      ['--max-client-timeout', '0'],
      ['--max-client-timeout', '256'],
      ['--max-transfers-per-address', 'x'],
      ['--max-request-rate', '-1'],
    ]) {
      const r = await run(
        process.execPath,
        [CLI, 'serve', '--root', path.join(dir, 'root'), '--tftp', '127.0.0.1:0', ...args],
        { timeoutMs: 20_000 },
      );
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const config = path.join(dir, 'bad.json');
    await fs.writeFile(config, JSON.stringify({ root: 'root', tftp: { maxClientTimeout: 300 } }));
    const r = await run(process.execPath, [CLI, 'serve', '--config', config], { timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/maxClientTimeout/);
  });
});
