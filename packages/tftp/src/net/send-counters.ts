/** Counters of a UDP socket's sends, the same for every transport. */

/** What a socket's sends came to. */
export interface SendCounters {
  /** Datagrams the kernel took. */
  datagrams: number;
  /** Sends that found no room (socket buffer or interface queue full): their datagrams waited. */
  deferred: number;
  /** Waiting datagrams a newer batch of the same socket replaced before they could go. */
  superseded: number;
  /** Datagrams the kernel refused for another reason (no route, a firewall): lost, as UDP allows. */
  errors: number;
  /** Runs of datagrams sent as one segmented write (UDP GSO). */
  segmented: number;
}

export const emptySendCounters = (): SendCounters => ({
  datagrams: 0,
  deferred: 0,
  superseded: 0,
  errors: 0,
  segmented: 0,
});

export function addSendCounters(into: SendCounters, c: SendCounters): void {
  into.datagrams += c.datagrams;
  into.deferred += c.deferred;
  into.superseded += c.superseded;
  into.errors += c.errors;
  into.segmented += c.segmented;
}
