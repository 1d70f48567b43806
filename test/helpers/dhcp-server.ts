/** bootwire's DHCP server as the tests start it on loopback. */
import { parseConfig } from '../../packages/bootwire/src/config/load.js';
import type { PhoneSink } from '../../packages/core/src/server/phones.js';
import { ipToInt } from '../../packages/core/src/ipv4.js';
import { DhcpServer } from '../../packages/dhcp/src/server/server.js';

export interface LoopbackDhcp {
  /** Where config paths are relative to. */
  dir: string;
  /** Where the server sends its replies to relays: the client's own port (no root needed). */
  relayPort: number;
  leases: string;
  /** Addresses in 127/8, as `first-last`. */
  pool: string;
  /** The config's `dhcp.classes`. */
  classes: unknown[];
  phones?: PhoneSink;
}

/** A server on 127.0.0.1 (any free port) for subnet 127/8, 600 s leases, option 66 127.0.0.1. */
export async function loopbackDhcpServer(o: LoopbackDhcp): Promise<DhcpServer> {
  const cfg = parseConfig(
    {
      dhcp: {
        listen: '127.0.0.1:0',
        leases: o.leases,
        relayPort: o.relayPort,
        subnets: [{ subnet: '127.0.0.0/8', pool: o.pool, leaseSeconds: 600, options: { '66': '127.0.0.1' } }],
        classes: o.classes,
      },
    },
    o.dir,
  );
  return DhcpServer.start({
    config: cfg.dhcp!,
    localAddresses: [ipToInt('127.0.0.1')],
    ...(o.phones ? { phones: o.phones } : {}),
  });
}
