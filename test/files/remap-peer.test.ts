/**
 * bootwire's remap rules against tftpd-hpa's own: Debian's in.tftpd runs with `-m RULES` and bootwire
 * with `--remap RULES` (the same file), on the same root; each name is asked of both from the same
 * client address (127.0.0.9, for `\i` and `\x`), and what each serves (the bytes, or the ERROR code)
 * must agree. The one documented difference (`s` restarts at the first rule in bootwire, as tftpd(8)
 * says) is shown as it is.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRemapFile, nameRules } from '../../packages/core/src/files/names.js';
import { createRootResolver } from '../../packages/core/src/files/root-resolver.js';
import { TftpError, tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { TftpServer } from '../../packages/tftp/src/server.js';
import { PEERS, type Peer, startTftpdHpa } from '../helpers/peers.js';

const CLIENT = '127.0.0.9';
let dir: string;
let root: string;

const RULES = String.raw`# tftpd-hpa rules, as an administrator writes them
r ^/tftpboot/                       # strip the old absolute prefix
rg \\ /                             # Windows clients: backslashes to slashes
ri ^sipdefault\.cnf$ SIPDefault.cnf # any case
r ^up/(.*)$ \U\1                    # groups and \U
re ^stop/(.*)$ \1                   # e: nothing after this applies
r \.txt$ .never                     # so this does not
a \.exe$                            # refused
a ^deny/(.*)$ no\ \1\ here          # refused, with a message
r ^ip\.cfg$ \i/ip.cfg               # the client's address
r ^hex\.cfg$ \x/hex.cfg             # in hex
a~ ^[A-Za-z0-9./_-]+$               # anything else is refused
`;

const FILES: Record<string, string> = {
  'pxelinux.0': 'pxe\n',
  'dir/file.txt': 'never served under this name\n',
  'SIPDefault.cnf': 'sip defaults\n',
  'HELLO.TXT': 'upper\n',
  'final.txt': 'stopped in time\n',
  [`${CLIENT}/ip.cfg`]: 'for 127.0.0.9\n',
  '7F000009/hex.cfg': 'for 7F000009\n',
  y: 'y\n',
  z: 'z\n',
};

const NAMES = [
  '/tftpboot/pxelinux.0',
  'dir\\file.txt',
  'sipdefault.CNF',
  'SIPDEFAULT.CNF',
  'up/hello.txt',
  'stop/final.txt',
  'final.txt',
  'x.exe',
  'deny/secrets',
  'ip.cfg',
  'hex.cfg',
  'with space',
  'missing.bin',
];

type Outcome = { ok: true; sha: string } | { ok: false; code: number };

async function outcome(port: number, filename: string): Promise<Outcome & { message?: string }> {
  try {
    const { data } = await tftpGetBuffer({
      host: '127.0.0.1',
      port,
      filename,
      localAddress: CLIENT,
      timeoutMs: 1000,
      maxRetries: 3,
    });
    return { ok: true, sha: createHash('sha256').update(data).digest('hex') };
  } catch (e) {
    if (!(e instanceof TftpError)) throw e;
    return { ok: false, code: e.code, message: e.tftpMessage };
  }
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function bootwireWith(rulesFile: string): Promise<TftpServer> {
  const names = nameRules({ remap: await loadRemapFile(rulesFile) })!;
  return TftpServer.start({
    root,
    resolver: await createRootResolver({ root, names }),
    host: '127.0.0.1',
    port: 0,
    workers: 0,
  });
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-remap-peer-'));
  root = path.join(dir, 'root');
  for (const [name, text] of Object.entries(FILES)) {
    await fs.mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await fs.writeFile(path.join(root, name), text);
  }
  await fs.writeFile(path.join(dir, 'rules'), RULES);
  await fs.writeFile(path.join(dir, 'restart'), 'r ^y$ z\nrs ^x$ y\n');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('remap rules: bootwire serves what in.tftpd -m serves', () => {
  it('each name, from the same client, gets the same file or the same ERROR code', async (ctx) => {
    PEERS.tftpdHpa.use(ctx);
    const peer: Peer = await startTftpdHpa(root, { extraArgs: ['-m', path.join(dir, 'rules')] });
    const ours = await bootwireWith(path.join(dir, 'rules'));
    try {
      const theirs: Record<string, Outcome & { message?: string }> = {};
      const mine: Record<string, Outcome & { message?: string }> = {};
      for (const n of NAMES) {
        theirs[n] = await outcome(peer.port, n);
        mine[n] = await outcome(ours.address().port, n);
      }
      const strip = (o: Outcome & { message?: string }) => (o.ok ? o : { ok: false, code: o.code });
      for (const n of NAMES)
        expect(strip(mine[n]!), `${n}\ntftpd-hpa log:\n${peer.log().slice(-2000)}`).toEqual(strip(theirs[n]!));
      // Not a vacuous agreement: what each rule should do, it did.
      const served = (text: string) => ({ ok: true, sha: sha(text) });
      expect(mine).toMatchObject({
        '/tftpboot/pxelinux.0': served('pxe\n'),
        'dir\\file.txt': { ok: false, code: 1 },
        'sipdefault.CNF': served('sip defaults\n'),
        'SIPDEFAULT.CNF': served('sip defaults\n'),
        'up/hello.txt': served('upper\n'),
        'stop/final.txt': served('stopped in time\n'),
        'final.txt': { ok: false, code: 1 },
        'x.exe': { ok: false, code: 2 },
        'deny/secrets': { ok: false, code: 2, message: 'no secrets here' },
        'ip.cfg': served('for 127.0.0.9\n'),
        'hex.cfg': served('for 7F000009\n'),
        'with space': { ok: false, code: 2 },
        'missing.bin': { ok: false, code: 1 },
      });
      expect(theirs['deny/secrets']!.message).toBe(mine['deny/secrets']!.message);
    } finally {
      await peer.stop();
      await ours.close(0);
    }
  });

  it('s: bootwire restarts at the first rule, as tftpd(8) documents', async (ctx) => {
    PEERS.tftpdHpa.use(ctx);
    const peer = await startTftpdHpa(root, { extraArgs: ['-m', path.join(dir, 'restart')] });
    const ours = await bootwireWith(path.join(dir, 'restart'));
    try {
      expect(await outcome(ours.address().port, 'x')).toEqual({ ok: true, sha: sha('z\n') });
      // Debian's tftpd-hpa 5.2 restarts at the second rule (its loop steps past the first): 'y'.
      expect(await outcome(peer.port, 'x')).toEqual({ ok: true, sha: sha('y\n') });
    } finally {
      await peer.stop();
      await ours.close(0);
    }
  });
});
