/**
 * Reads a capture (pcap, pcapng, gzip) and lists the DHCP message types in it, with their counts:
 * @bootwire/capture's reader (bounded in work and memory whatever the file) and @bootwire/dhcp's codec.
 *
 *   node capture-dhcp-types.js FILE.pcap
 */
import { DHCP_PORTS, readCaptureFile, udpDatagrams } from '@bootwire/capture';
import { decodeDhcp, messageTypeName } from '@bootwire/dhcp';

const file = process.argv[2];
if (!file) {
  console.error('usage: node capture-dhcp-types.js CAPTURE');
  process.exit(2);
}
const capture = await readCaptureFile(file);
if (capture.error)
  console.error(`warning: read up to the damage at byte ${capture.error.offset}: ${capture.error.message}`);
const counts = new Map<string, number>();
for (const d of udpDatagrams(capture.records).datagrams) {
  if (!DHCP_PORTS.has(d.srcPort) && !DHCP_PORTS.has(d.dstPort)) continue;
  const r = decodeDhcp(d.payload);
  const type = !r.ok ? 'malformed' : (messageTypeName(r.message.options.messageType() ?? 0) ?? 'BOOTP');
  counts.set(type, (counts.get(type) ?? 0) + 1);
}
for (const [type, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${type.padEnd(10)} ${n}`);
if (counts.size === 0) console.log('no DHCP messages');
