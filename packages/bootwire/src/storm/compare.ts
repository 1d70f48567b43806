/**
 * `bootwire storm --compare` on loopback: bootwire and each named peer in turn, each server alone in a
 * fresh network namespace on 127.0.0.1:69 (the peers listen on port 69 and drop privileges: root
 * only), the fleet a child storm inside the same namespace pointed at it (`--server tftp://127.0.0.1:69/
 * --dhcp none`). Rounds alternate the order; each server's median round stands for it.
 */
import { addNamespace, deleteNamespace, ip, netnsPrefix, removeStaleNamespaces } from './netns.js';
import { runJsonChild, serverCpu } from './proc.js';
import { alternateRounds, type StormRun } from './result.js';
import type { StormOptions } from './run.js';
import { CLI, type PeerName, startBootwire, startPeer } from './servers.js';

export async function compareOnLoopback(o: StormOptions, root: string, dir: string): Promise<StormRun[]> {
  if (process.getuid?.() !== 0)
    throw new Error(
      '--compare needs root: the peers listen on port 69 and drop privileges, each in a network namespace of its own',
    );
  removeStaleNamespaces('bwstorm');
  return alternateRounds(['bootwire', ...o.compare], o.rounds, async (name, round) => {
    const ns = `bwstorm-${process.pid}-${round}-${name}`;
    addNamespace(ns);
    try {
      // tftpd-hpa resolves its address with AI_ADDRCONFIG, which fails when only loopback has one.
      ip(['-n', ns, 'link', 'add', 'bw0', 'type', 'veth', 'peer', 'name', 'bw1']);
      ip(['-n', ns, 'addr', 'add', '198.18.0.1/32', 'dev', 'bw0']);
      ip(['-n', ns, 'link', 'set', 'bw0', 'up']);
      ip(['-n', ns, 'link', 'set', 'bw1', 'up']);
      const prefix = netnsPrefix(ns);
      const server =
        name === 'bootwire'
          ? await startBootwire({
              config: {
                root,
                tftp: {
                  listen: '127.0.0.1:69',
                  ...(o.serverWorkers !== undefined ? { workers: o.serverWorkers } : {}),
                },
              },
              dir,
              prefix,
            })
          : await startPeer(name as PeerName, root, prefix);
      // The server's CPU with the children it forks and never waits for (tftpd-hpa): see CpuGroup.
      const cpu = serverCpu(ns, [server]);
      try {
        if (o.progress) process.stderr.write(`storm: ${name} (round ${round + 1}/${o.rounds})\n`);
        const cpu0 = cpu.cpuSeconds();
        const child = await runJsonChild<StormRun>(
          [...prefix, process.execPath, CLI, ...childStormArgs(o, root)],
          "the fleet's storm",
        );
        const used = cpu.cpuSeconds() - cpu0;
        const u = server.usage();
        return {
          ...child,
          server: name,
          ...(Number.isFinite(used) ? { serverCpuSeconds: Math.round(used * 1000) / 1000 } : {}),
          ...(u ? { serverPeakRssBytes: u.peakRssBytes } : {}),
        };
      } finally {
        await server.stop();
        await cpu.close();
      }
    } finally {
      deleteNamespace(ns);
    }
  });
}

/** The child storm's command line: the same fleet and faults, against 127.0.0.1:69, JSON out. */
export function childStormArgs(o: StormOptions, root: string): string[] {
  return [
    'storm',
    ...['--server', 'tftp://127.0.0.1:69/', '--dhcp', 'none', '--root', root],
    ...['--phones', String(o.phones), '--mix', o.mixText, '--protocols', (o.protocols ?? ['tftp']).join(',')],
    ...[
      '--loss',
      String(o.loss),
      '--duplicate',
      String(o.duplicate),
      '--reorder',
      String(o.reorder),
      '--stagger',
      String(o.staggerMs),
    ],
    ...['--workers', String(o.workers), '--seed', String(o.seed), '--json', '--full-json', '--no-progress'],
    ...(o.blksize ? ['--client-blksize', String(o.blksize)] : []),
    ...(o.windowsize ? ['--client-windowsize', String(o.windowsize)] : []),
  ];
}
