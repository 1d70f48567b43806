/**
 * Errors and warnings of the DHCP codec.
 *
 * Wire input never throws: decodeDhcp() returns a typed error for what cannot be a BOOTP message at all
 * and typed issues (with their offsets) for everything it could still read around; an option of the
 * wrong shape decodes to its raw bytes with the reason. Configuration input (fromConfig) throws
 * DhcpConfigError, and a typed value given to a builder (encodeOption, buildDhcp) that no option bytes
 * can carry throws DhcpOptionError naming the option: both are a caller's mistake to report, not
 * traffic to survive, and neither ever turns into bytes the caller did not ask for.
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

/**
 * A value given to a builder (encodeOption, buildDhcp) that the option cannot carry: a wrong type, a
 * number out of range, a name a phone would misread. A RangeError, so callers that caught the codecs'
 * RangeErrors before still do; `option` and `optionName` say which option, as the message does.
 */
export class DhcpOptionError extends RangeError {
  override readonly name = 'DhcpOptionError';
  readonly option: number;
  readonly optionName: string;

  /** `option` is NaN for a name that is no option. */
  constructor(option: number, optionName: string, message: string, options?: ErrorOptions) {
    super(
      `${Number.isNaN(option) ? `option ${JSON.stringify(optionName)}` : `option ${option} (${optionName})`}` +
        `: ${message}`,
      options,
    );
    this.option = option;
    this.optionName = optionName;
  }
}
