/** Capture files (pcap, nanosecond pcap, pcapng, gzip) and the UDP datagrams in them. */
export { readCapture, readCaptureFile, detectFormat, type ReadOptions } from './read.js';
export { udpDatagrams, type UdpOptions } from './udp.js';
export type { FragmentLimits } from './reassembly.js';
export { formatIPv4, formatIPv6 } from './address.js';
export {
  LinkType,
  type CaptureError,
  type CaptureErrorKind,
  type CaptureFormat,
  type CaptureRecord,
  type CaptureResult,
  type UdpDatagram,
  type UdpScan,
} from './types.js';
export { endpoint, TftpTracker, trackTftp, type TftpConversation, type TftpItem, type TftpTrackOptions } from './tftp-conversations.js';
