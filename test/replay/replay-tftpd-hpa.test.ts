/**
 * `replay --server HOST:PORT` against a real tftpd-hpa on a loopback port (`-a 127.0.0.1:PORT -s -c`),
 * serving the files rebuilt from the captures in captures/: every download and the missing file
 * replay ok whichever server was recorded; where the recorded server negotiated otherwise, the line
 * says so. tftpd-hpa stores `../escape.bin` (its chroot makes it `/escape.bin`) where bootwire refused
 * it: that recorded refusal replays as the one difference.
 */
import { promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../packages/capture/src/read.js';
import { trackTftp } from '../../packages/capture/src/tftp-conversations.js';
import { udpDatagrams } from '../../packages/capture/src/udp.js';
import { recordedTransfers } from '../../packages/bootwire/src/replay/files-from-capture.js';
import { replayCapture, summarize, type ReplayReport } from '../../packages/bootwire/src/replay/index.js';
import { BUILTIN_POLICY, planTftp } from '../../packages/bootwire/src/replay/tftp-expect.js';
import { PEERS, REPO_ROOT, startTftpdHpa, type Peer } from '../helpers/peers.js';

const OWN = path.join(REPO_ROOT, 'captures');
const TFTP_CAPTURES = readdirSync(OWN)
  .filter((f) => /^tftp-.*\.pcap(ng)?$/.test(f))
  .sort();

let root: string | undefined;
let peer: Peer | undefined;

const lines = (r: ReplayReport) =>
  r.outcomes.map((o) => `${o.verdict} ${o.what}: ${o.detail}${o.notes ? ` (${o.notes.join('; ')})` : ''}`);

beforeAll(async () => {
  if (PEERS.tftpdHpa.skip) return;
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-replay-hpa-'));
  // The root holds what the captures' DATA rebuild to (the same files whichever server served them).
  for (const f of TFTP_CAPTURES) {
    const c = await readCaptureFile(path.join(OWN, f));
    const plan = planTftp(recordedTransfers(trackTftp(udpDatagrams(c.records).datagrams)), BUILTIN_POLICY);
    for (const file of plan.files) await fs.writeFile(path.join(root, ...file.segments), file.bytes);
  }
  expect((await fs.readdir(root)).sort()).toEqual(['curl-100k.bin', 'lockstep-64k.bin', 'window-300k.bin']);
  peer = await startTftpdHpa(root, { extraArgs: ['-c'] });
});

afterAll(async () => {
  await peer?.stop();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

describe.skipIf(PEERS.tftpdHpa.skip)('replay against tftpd-hpa serving the rebuilt files', () => {
  for (const file of TFTP_CAPTURES.filter((f) => !f.startsWith('tftp-put-'))) {
    it(`${file}: ok`, async () => {
      PEERS.tftpdHpa.use();
      const r = await replayCapture(path.join(OWN, file), { tftp: { server: { host: peer!.host, port: peer!.port } } });
      for (const o of r.outcomes) expect(o.verdict, `${lines(r).join('\n')}\n${peer!.log()}`).toBe('ok');
      expect(r.outcomes.length).toBe(1);
    });
  }

  it('notes where the recorded server negotiated otherwise than tftpd-hpa', async () => {
    const r = await replayCapture(path.join(OWN, 'tftp-window-atftpd.pcap'), {
      tftp: { server: { host: peer!.host, port: peer!.port } },
    });
    expect(lines(r)).toEqual([
      expect.stringMatching(
        /^ok #1 RRQ "window-300k.bin" from [\d.:]+: 300000 bytes, sha256 [0-9a-f]{16}; blksize 8192 \(windowsize 1, the recorded server gave 16\)$/,
      ),
    ]);
  });

  it("uploads are accepted; bootwire's refusal of ../escape.bin is the difference", async () => {
    const hpa = await replayCapture(path.join(OWN, 'tftp-put-tftpd-hpa.pcap'), {
      tftp: { server: { host: peer!.host, port: peer!.port } },
    });
    expect(lines(hpa)).toEqual([
      expect.stringMatching(
        /^ok #1 WRQ "upload-80k.bin" from [\d.:]+: 80000 bytes uploaded \(stored bytes not checked\); blksize 512$/,
      ),
    ]);
    expect((await fs.readFile(path.join(root!, 'upload-80k.bin'))).length).toBe(80000);
    await fs.rm(path.join(root!, 'upload-80k.bin'));

    const bw = await replayCapture(path.join(OWN, 'tftp-put-bootwire.pcapng'), {
      tftp: { server: { host: peer!.host, port: peer!.port } },
    });
    expect(lines(bw)).toEqual([
      expect.stringMatching(/^ok #1 WRQ "upload-80k.bin" .*: 80000 bytes uploaded/),
      expect.stringMatching(
        /^different #2 WRQ "\.\.\/escape\.bin" .*: the upload was accepted, recorded ERROR 2 "\\"\.\.\/escape\.bin\\" leaves the root"$/,
      ),
    ]);
    expect(summarize(bw).exitCode).toBe(1);
    expect((await fs.stat(path.join(root!, 'escape.bin'))).size).toBe(0);
  });
});
