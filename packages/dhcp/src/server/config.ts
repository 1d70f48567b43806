/**
 * What a DhcpServer serves, as plain data: the caller's business is where it comes from (bootwire's
 * CLI validates its `bootwire.json` and hands the `dhcp` section over as it is). Every field that has
 * a default says so; `withDefaults` fills them in. A value the server cannot use is a
 * DhcpConfigError naming the field (`dhcp.subnets[0].pool`).
 */

/** An option value as written in JSON: text, a number, a list, a sub-option map, or true/false. */
export type OptionValue = string | number | boolean | (string | number)[] | Record<string, string | number>;

/** Text matching: a plain string is exact; or a prefix, or a regular expression in RE2 syntax (linear time). */
export type Matcher = string | { exact: string } | { prefix: string } | { regex: string };

export interface SubnetConfig {
  /** `10.77.0.0/24`. */
  subnet: string;
  /** `10.77.0.100-10.77.0.199`, or several ranges. */
  pool: string | string[];
  /** Default 3600. */
  leaseSeconds?: number;
  /** Options keyed by code ("66") or name ("router"). */
  options?: Record<string, OptionValue>;
  /** Options sent even when the client did not ask for them (by code or name). */
  alwaysSend?: (string | number)[];
  /** Fixed addresses: MAC (aa:bb:...) → address inside the subnet. */
  reservations?: { mac: string; address: string }[];
  /**
   * ISC dhcpd's `authoritative`: a REQUEST from a client this server has no record of gets a NAK
   * instead of the silence RFC 2131 4.3.2 asks of a server that may share the link with others.
   */
  authoritative?: boolean;
}

export interface ClassConfig {
  name?: string;
  /** Every given matcher must match; the first class that matches a request applies. */
  match: { vendorClass?: Matcher; userClass?: Matcher; macPrefix?: string; clientId?: Matcher; circuitId?: Matcher };
  options?: Record<string, OptionValue>;
  alwaysSend?: (string | number)[];
}

export interface DhcpConfig {
  /** `HOST:PORT`, default `0.0.0.0:67`. */
  listen?: string;
  /** The lease database file. */
  leases: string;
  /**
   * Option 54; default: the server's own address in the client's subnet, else the listen address, else
   * the address its replies leave from toward the relay or client.
   */
  serverId?: string;
  /** Replies to relays go to giaddr on this port (default 67; another lets tests run unprivileged). */
  relayPort?: number;
  /** Replies to unrelayed clients go to this port (default 68). */
  clientPort?: number;
  /** How long an OFFER holds an address for the client it was offered to (default 30). */
  offerSeconds?: number;
  /** How long a DECLINEd address stays out of the pool (default 3600). */
  declineSeconds?: number;
  subnets: SubnetConfig[];
  classes?: ClassConfig[];
}

type Filled<T, K extends keyof T> = T & Required<Pick<T, K>>;
export type FilledSubnet = Filled<SubnetConfig, 'leaseSeconds' | 'options' | 'alwaysSend' | 'reservations'>;
export type FilledClass = Filled<ClassConfig, 'options' | 'alwaysSend'>;
export type FilledDhcpConfig = Omit<
  Filled<DhcpConfig, 'listen' | 'relayPort' | 'clientPort' | 'offerSeconds' | 'declineSeconds'>,
  'subnets' | 'classes'
> & {
  subnets: FilledSubnet[];
  classes: FilledClass[];
};

/** The configuration with every default filled in. */
export function withDefaults(c: DhcpConfig): FilledDhcpConfig {
  return {
    ...c,
    listen: c.listen ?? '0.0.0.0:67',
    relayPort: c.relayPort ?? 67,
    clientPort: c.clientPort ?? 68,
    offerSeconds: c.offerSeconds ?? 30,
    declineSeconds: c.declineSeconds ?? 3600,
    subnets: c.subnets.map((s) => ({
      ...s,
      leaseSeconds: s.leaseSeconds ?? 3600,
      options: s.options ?? {},
      alwaysSend: s.alwaysSend ?? [],
      reservations: s.reservations ?? [],
    })),
    classes: (c.classes ?? []).map((k) => ({ ...k, options: k.options ?? {}, alwaysSend: k.alwaysSend ?? [] })),
  };
}
