/**
 * Errors and warnings of the DHCP codec.
 *
 * Wire input never throws: decodeDhcp() returns a typed error for what cannot be a BOOTP message at all
 * and typed issues (with their offsets) for everything it could still read around. Configuration input
 * (fromConfig, buildAvayaList, ...) throws DhcpConfigError, whose message names the problem, because a
 * bad configuration file is a programming-time mistake to report, not traffic to survive.
 */

/** Why a datagram could not be decoded as a message at all. */
export type DhcpDecodeErrorKind =
  | 'truncated' // shorter than the 236-byte BOOTP header
  | 'no-cookie'; // no magic cookie, and the caller asked for DHCP only (requireCookie)

export interface DhcpDecodeError {
  readonly kind: DhcpDecodeErrorKind;
  readonly message: string;
  /** Byte offset in the datagram where the problem was found. */
  readonly offset: number;
}

/** What was odd about a message that still decoded. Each one is also in the result's `warnings`. */
export type DhcpIssueKind =
  | 'no-cookie' // plain BOOTP (RFC 951): the vend area is kept raw, there are no options
  | 'option-overrun' // an option's length runs past the end of its area: kept raw from there on
  | 'missing-end' // an option area ends without End (255)
  | 'bytes-after-end' // non-zero bytes after End (kept as they are)
  | 'bad-overload' // option 52 malformed, repeated, out of range, or outside the options field: ignored
  | 'bad-hlen' // hlen above 16 (chaddr's size)
  | 'bad-op'; // op neither 1 (BOOTREQUEST) nor 2 (BOOTREPLY)

export interface DhcpIssue {
  readonly kind: DhcpIssueKind;
  readonly message: string;
  readonly offset: number;
}

/** A configuration value that cannot become option bytes. The message names the option when known. */
export class DhcpConfigError extends Error {
  override readonly name = 'DhcpConfigError';
}
