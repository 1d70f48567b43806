/** Capture files (pcap, nanosecond pcap, pcapng, gzip) and the UDP datagrams in them. */
export {
  readCapture,
  readCaptureFile,
  detectFormat,
  DEFAULT_MAX_GUNZIP_BYTES,
  DEFAULT_MAX_GUNZIP_RATIO,
  DEFAULT_MAX_RECORDS,
  type ReadOptions,
} from './read.js';
export { DEFAULT_MAX_WARNINGS, udpDatagrams, type UdpOptions } from './udp.js';
export { DEFAULT_MAX_FRAGMENTS, MAX_SET_BYTES, type FragmentLimits, type FragmentStats } from './reassembly.js';
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
export {
  endpoint,
  looseRequest,
  TftpTracker,
  trackTftp,
  type TftpConversation,
  type TftpItem,
  type TftpTrackOptions,
} from './tftp-conversations.js';
export {
  captureMessages,
  type CaptureMessage,
  DHCP_PORTS,
  type DhcpCaptureMessage,
  describeMessage,
  type TftpCaptureMessage,
  type TftpJson,
  type TftpOpcodeName,
  tftpJson,
} from './messages.js';
export type { DhcpJson, DhcpOptionJson } from './dhcp-json.js';
