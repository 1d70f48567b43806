/**
 * `bootwire storm --compare` (root: each server alone in a network namespace on 127.0.0.1:69): the same
 * fleet against bootwire, tftpd-hpa, atftpd and dnsmasq; nothing left behind. And the CPU accounting
 * it relies on: a control group counts the CPU of children nobody waits for (tftpd-hpa's transfers).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CpuGroup } from '../../packages/bootwire/src/storm/proc.js';
import { PEERS, requireRoot, useAll } from '../helpers/peers.js';
import { fleetBytes, modelPhones, stormCli, type StormJson, useInitRoot } from './helpers.js';

const site = useInitRoot('bw-storm-compare-', '256k');

const ourNamespaces = (): string[] => [
  ...(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.match(/^bwstorm-\S+/gm) ?? []),
];
const ourCgroups = (): string[] =>
  ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup']
    .filter(existsSync)
    .flatMap((d) => readdirSync(d).filter((n) => n.startsWith('bwstorm-')));

describe('bootwire storm --compare', () => {
  it(
    '20 phones against bootwire, tftpd-hpa, atftpd and dnsmasq: all boot, the same bytes, nothing left behind',
    { timeout: 180_000 },
    async (ctx) => {
      requireRoot(ctx);
      useAll(ctx, PEERS.tftpdHpa, PEERS.atftpd, PEERS.dnsmasq, PEERS.ip);
      const before = { ns: ourNamespaces(), cg: ourCgroups() };
      const r = await stormCli(
        ['--phones', '20', '--image-size', '256k', '--compare', 'tftpd-hpa,atftpd,dnsmasq', '--json'],
        { timeoutMs: 170_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const { runs } = r.json as { runs: StormJson[] };
      expect(Object.keys(r.json as object)).toEqual(['runs']);
      expect(runs.map((x) => x.server)).toEqual(['bootwire', 'tftpd-hpa', 'atftpd', 'dnsmasq']);
      const counts = { '4610': 6, '1608': 2, '9608': 6, '1230': 2, '440HD': 4 };
      // The generated root of --image-size 256k holds the same files as `init --image-size 256k`.
      const bytes = fleetBytes(site.root, counts);
      for (const run of runs) {
        expect([run.server, run.phones, run.booted, run.failed, run.imagesDownloaded], run.server).toEqual([
          run.server,
          20,
          20,
          0,
          20,
        ]);
        expect(run.failures).toEqual({});
        expect(modelPhones(run)).toEqual(counts);
        expect(run.bytes, run.server).toBe(bytes);
        // The peers serve only TFTP: the comparison keeps every phone on it.
        expect(run.bytesByProtocol, run.server).toEqual({ tftp: bytes });
        expect(Object.keys(run.phases)).toEqual(['script', 'image', 'settings']);
        expect(run.serverCpuSeconds, run.server).toBeGreaterThan(0);
        expect(run.serverPeakRssBytes, run.server).toBeGreaterThan(0);
      }
      console.log(
        `storm --compare 20 phones (${r.seconds} s): ` +
          `${runs.map((x) => `${x.server} wall ${x.wallSeconds} s cpu ${x.serverCpuSeconds} s`).join('; ')}`,
      );
      // Every namespace and control group the comparison made is gone (others' are not ours to judge).
      expect(ourNamespaces().filter((n) => !before.ns.includes(n))).toEqual([]);
      expect(ourCgroups().filter((n) => !before.cg.includes(n))).toEqual([]);
    },
  );
});

describe('CpuGroup', () => {
  it('counts the CPU of a child its parent never waits for', { timeout: 60_000 }, async (ctx) => {
    requireRoot(ctx);
    const group = CpuGroup.open(`bwstorm-test-${process.pid}`);
    if (!group) return ctx.skip('no cgroup v1 cpuacct or cgroup v2 hierarchy to create a group in');
    try {
      // The shell waits for a line, then leaves a busy child behind (as a daemon's fork would) and exits:
      // the child's CPU reaches no parent's cutime.
      const busy =
        `${JSON.stringify(process.execPath)} -e "const ` +
        `t=process.cpuUsage();while(process.cpuUsage(t).user<300000);"`;
      const sh = spawn('sh', ['-c', `read go; (${busy} &) ; exit 0`], { stdio: ['pipe', 'ignore', 'ignore'] });
      expect(group.add(sh.pid!)).toBe(true);
      expect(group.cpuSeconds()).toBeLessThan(0.3);
      sh.stdin.end('go\n');
      await new Promise((r) => sh.once('exit', r));
      // Wait until the group is empty: the orphan has done its 0.3 s of CPU and exited.
      const procs = `${group.dir}/cgroup.procs`;
      for (let i = 0; i < 300 && readFileSync(procs, 'utf8').trim() !== ''; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(procs, 'utf8').trim()).toBe('');
      expect(group.cpuSeconds()).toBeGreaterThanOrEqual(0.3);
    } finally {
      await group.removeWhenEmpty();
    }
    expect(existsSync(group.dir)).toBe(false);
  });
});
