/**
 * Replaying a capture's client side against a server: every TFTP conversation (files rebuilt from the
 * recorded DATA) and every DHCP exchange (against a server configured from the recorded replies), each
 * checked against what the capture shows. A damaged capture replays what comes before the damage.
 */
import { readCaptureFile } from '@bootwire/capture';
import { trackTftp } from '@bootwire/capture';
import { udpDatagrams } from '@bootwire/capture';
import { replayDhcp, type DhcpReplayOptions } from './dhcp-replay.js';
import { dhcpExchanges } from './dhcp-exchanges.js';
import { recordedTransfers } from './files-from-capture.js';
import type { Outcome, ReplayReport } from './report.js';
import { replayTftp, type TftpReplayOptions } from './tftp-replay.js';

export interface ReplayOptions {
  readonly tftp?: TftpReplayOptions;
  readonly dhcp?: DhcpReplayOptions;
}

/** Replays one capture file. Rejects only when the file cannot be read from disk. */
export async function replayCapture(file: string, o: ReplayOptions = {}): Promise<ReplayReport> {
  const capture = await readCaptureFile(file);
  const warnings: string[] = [];
  if (capture.error) {
    const e = capture.error;
    if (capture.records.length === 0)
      return { capture: file, outcomes: [], warnings, unreadable: `${e.message} (byte ${e.offset})` };
    warnings.push(
      `the capture is damaged at byte ${e.offset} (${e.kind}: ${e.message}); replaying the ` +
        `${capture.records.length} records before it`,
    );
  }
  const scan = udpDatagrams(capture.records);
  warnings.push(...scan.warnings);

  const items = [...trackTftp(scan.datagrams)];
  for (const i of items) {
    if (!i.packet.ok && i.conversation && i.datagram.frame !== i.conversation.requestFrame)
      warnings.push(
        `frame ${i.datagram.frame}: malformed TFTP in conversation #${i.conversation.id}: ${i.packet.error.message}`,
      );
  }
  const transfers = recordedTransfers(items);
  const { exchanges, warnings: dhcpWarnings } = dhcpExchanges(scan.datagrams);
  warnings.push(...dhcpWarnings);

  const outcomes: Outcome[] = [];
  outcomes.push(...(await replayTftp(transfers, o.tftp ?? { server: 'builtin' })));
  const dhcp = await replayDhcp(exchanges, o.dhcp ?? { server: 'builtin' });
  outcomes.push(...dhcp.outcomes);
  const notes = dhcp.notes.map((n) => `DHCP configuration: ${n}`);
  return { capture: file, outcomes, warnings, ...(notes.length ? { notes } : {}) };
}

export {
  recordedTransfers,
  type RecordedTransfer,
  type RecordedStatus,
  type RecordedError,
} from './files-from-capture.js';
export {
  planTftp,
  judgeTftp,
  placeInRoot,
  replayRequest,
  expectedNegotiation,
  BUILTIN_POLICY,
  type TftpPlan,
  type TftpActual,
  type PlannedTransfer,
} from './tftp-expect.js';
export {
  dhcpExchanges,
  configFromReplies,
  rebuildRequest,
  checkReply,
  type DhcpExchange,
  type CaptureConfig,
} from './dhcp-exchanges.js';
export { formatOutcome, formatReport, summarize, type Outcome, type ReplayReport, type Verdict } from './report.js';
export { replayTftp, type TftpReplayOptions } from './tftp-replay.js';
export { replayDhcp, type DhcpReplayOptions } from './dhcp-replay.js';
