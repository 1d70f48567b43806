/** Synthetic captured UDP datagrams (as the capture package yields them), numbered as frames 1, 2, … */
import type { UdpDatagram } from '../../packages/capture/src/types.js';
import { parseHostPort } from '../../packages/core/src/hostport.js';

let frame = 0;

/** The next datagram is frame 1 again. */
export function resetFrames(): void {
  frame = 0;
}

/** A datagram from `src` to `dst` (`a.b.c.d:port` or `[v6]:port`), one second after the last. */
export function dg(src: string, dst: string, payload: Buffer, extra: Partial<UdpDatagram> = {}): UdpDatagram {
  const s = parseHostPort(src);
  const d = parseHostPort(dst);
  frame++;
  return {
    frame,
    time: frame,
    timeNs: BigInt(frame) * 1_000_000_000n,
    src: s.host,
    dst: d.host,
    srcPort: s.port,
    dstPort: d.port,
    payload,
    ipVersion: s.host.includes(':') ? 6 : 4,
    ...extra,
  };
}
