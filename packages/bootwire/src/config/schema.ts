/**
 * The `bootwire.json` file: one JSON document for TFTP and DHCP, validated with zod when loaded. An
 * error names the field (`dhcp.subnets[0].pool`) and the problem, and the server does not start.
 */
import { isIPv4 } from 'node:net';
import { re2 } from '@bootwire/core';
import { z } from 'zod';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 0.0.0.0:67');
const ipv4 = z.string().refine((s) => isIPv4(s), 'expected an IPv4 address');
const cidr = z.string().refine((s) => {
  const [ip, len, extra] = s.split('/');
  return (
    extra === undefined &&
    ip !== undefined &&
    isIPv4(ip) &&
    len !== undefined &&
    /^\d{1,2}$/.test(len) &&
    Number(len) <= 32
  );
}, 'expected an IPv4 subnet like 10.77.0.0/24');
const range = z.string().refine((s) => {
  const [a, b, extra] = s.split('-').map((x) => x.trim());
  return extra === undefined && a !== undefined && b !== undefined && isIPv4(a) && isIPv4(b);
}, 'expected an address range like 10.77.0.100-10.77.0.199');

/** An option value as written in JSON: text, a number, a list, a sub-option map, or true/false. */
const optionValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.array(z.union([z.string(), z.number()])),
  z.record(z.string(), z.union([z.string(), z.number()])),
]);
/** Options keyed by code ("66") or name ("router"). */
const options = z.record(z.string(), optionValue);

/** Text matching: a plain string is exact; or {prefix}, or {regex}. */
const matcher = z.union([
  z.string(),
  z.strictObject({ exact: z.string() }),
  z.strictObject({ prefix: z.string() }),
  // RE2 syntax (re2js): matching takes time linear in the input, whatever the pattern, so a client's
  // option 60 cannot stall the server; back-references and look-arounds are refused with the reason.
  z.strictObject({
    regex: z.string().superRefine((r, ctx) => {
      try {
        re2().compile(r);
      } catch (e) {
        ctx.addIssue({
          code: 'custom',
          message: `not a regular expression bootwire can match in linear time (RE2 syntax): ${(e as Error).message}`,
        });
      }
    }),
  }),
]);

export const subnetSchema = z.strictObject({
  subnet: cidr,
  pool: z.union([range, z.array(range).min(1)]),
  leaseSeconds: z.number().int().min(60).max(0x7fffffff).default(3600),
  options: options.default({}),
  /** Options sent even when the client did not ask for them (by code or name). */
  alwaysSend: z.array(z.union([z.string(), z.number()])).default([]),
  /** Fixed addresses: MAC (aa:bb:...) → address inside the subnet. */
  reservations: z
    .array(
      z.strictObject({
        mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'expected a MAC like 00:04:0d:aa:bb:01'),
        address: ipv4,
      }),
    )
    .default([]),
  /**
   * ISC dhcpd's `authoritative`: a REQUEST from a client this server has no record of gets a NAK (the
   * client starts over with DISCOVER) instead of the silence RFC 2131 4.3.2 asks of a server that
   * may share the link with others.
   */
  authoritative: z.boolean().optional(),
});

export const classSchema = z.strictObject({
  name: z.string().optional(),
  match: z
    .strictObject({
      vendorClass: matcher.optional(),
      userClass: matcher.optional(),
      macPrefix: z
        .string()
        .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){0,5}$/, 'expected MAC octets like 00:04:0d')
        .optional(),
      clientId: matcher.optional(),
      circuitId: matcher.optional(),
    })
    .refine((m) => Object.values(m).some((v) => v !== undefined), 'a class needs at least one match'),
  options: options.default({}),
  alwaysSend: z.array(z.union([z.string(), z.number()])).default([]),
});

export const dhcpSchema = z.strictObject({
  listen: hostPort.default('0.0.0.0:67'),
  leases: z.string().min(1),
  /**
   * The address put in option 54; default: the server's own address in the client's subnet, else the
   * listen address, else the address its replies leave from toward the relay or client.
   */
  serverId: ipv4.optional(),
  /** Replies to relays go to giaddr on this port (67 per RFC 2131; another lets tests run unprivileged). */
  relayPort: z.number().int().min(1).max(65535).default(67),
  /** Replies to unrelayed clients go to this port (68 per RFC 2131). */
  clientPort: z.number().int().min(1).max(65535).default(68),
  /** How long an OFFER holds an address for the client that was offered it. */
  offerSeconds: z.number().int().min(1).max(3600).default(30),
  /** How long a DECLINEd address stays out of the pool. */
  declineSeconds: z.number().int().min(1).default(3600),
  subnets: z.array(subnetSchema).min(1),
  classes: z.array(classSchema).default([]),
});

export const tftpSchema = z.strictObject({
  listen: hostPort.default('127.0.0.1:6969'),
  workers: z.number().int().min(0).max(256).optional(),
  maxTransfers: z.number().int().min(1).optional(),
  allowWrite: z.boolean().default(false),
  allowOverwrite: z.boolean().default(false),
  maxUploadMb: z.number().int().min(0).default(64),
  timeoutMs: z.number().int().min(10).max(255_000).default(1000),
  retries: z.number().int().min(0).max(100).default(5),
  maxBlksize: z.number().int().min(8).max(65464).default(65464),
  maxWindowsize: z.number().int().min(1).max(65535).default(64),
  cacheMb: z.number().int().min(0).default(512),
  /** Limits (issue 14); each defaults to TFTP_LIMIT_DEFAULTS in src/tftp/server.ts. */
  maxClientTimeout: z.number().int().min(1).max(255).optional(),
  maxTransferSeconds: z.number().int().min(1).optional(),
  maxTransfersPerAddress: z.number().int().min(1).optional(),
  maxRequestRate: z.number().int().min(0).optional(),
  retriesBeforeAnswer: z.number().int().min(0).max(100).optional(),
  maxUnackedKb: z.number().int().min(1).optional(),
  maxFilenameBytes: z.number().int().min(1).max(65535).optional(),
});

/** A user name and password (HTTP backup areas, FTP logins). */
const credential = z.strictObject({
  user: z
    .string()
    .min(1)
    .regex(/^[^:\x00-\x1f\x7f]+$/, 'no ":" or control characters'),
  password: z.string(),
});

/** HTTP and/or HTTPS over the same root as TFTP; cert and key are PEM files, relative to the config file. */
export const httpSchema = z.strictObject({
  listen: hostPort.optional(),
  https: z.strictObject({ listen: hostPort, cert: z.string().min(1), key: z.string().min(1) }).optional(),
  maxConnections: z.number().int().min(1).optional(),
  maxConnectionsPerClient: z.number().int().min(1).optional(),
  /** Backup areas (Avaya BRURI): PUT/GET/HEAD/DELETE under `prefix`, stored in `dir` (relative to the config file). */
  backup: z
    .array(z.strictObject({ prefix: z.string().min(1), dir: z.string().min(1), users: z.array(credential).optional() }))
    .optional(),
  /** Largest backup a PUT may store, in KiB (default 1024). */
  backupMaxKb: z
    .number()
    .int()
    .min(0)
    .max(1 << 20)
    .optional(),
});

/** Read-only FTP over the same root and file copies as TFTP and HTTP. */
export const ftpSchema = z.strictObject({
  listen: hostPort,
  /** Passive data ports, `A-B`; default any free port. */
  passivePorts: z
    .string()
    .regex(/^[0-9]{1,5}-[0-9]{1,5}$/, 'expected a port range like 50000-50100')
    .optional(),
  /** The IPv4 address PASV announces (behind NAT); default the control connection's local address. */
  advertise: ipv4.optional(),
  anonymous: z.boolean().default(true),
  users: z.array(credential).optional(),
  maxConnections: z.number().int().min(1).optional(),
  maxConnectionsPerClient: z.number().int().min(1).optional(),
});

/** How requested names become files, for TFTP, HTTP and FTP alike (src/files/names.ts, root-resolver.ts). */
export const namesSchema = z.strictObject({
  /** A tftpd-hpa remap rules file (in.tftpd -m), relative to the config file. */
  remap: z.string().min(1).optional(),
  /** Fold names to lowercase before the rules (dnsmasq --tftp-lowercase). */
  lowercase: z.boolean().optional(),
  /** ROOT/<client>/NAME first, then ROOT/NAME (dnsmasq tftp-unique-root). */
  uniqueRoot: z.enum(['mac', 'ip']).optional(),
});

/** Prometheus text at GET /metrics on this address (`serve --metrics` overrides it). */
export const metricsSchema = z.strictObject({
  listen: hostPort,
});

export const configSchema = z.strictObject({
  root: z.string().min(1).optional(),
  names: namesSchema.optional(),
  tftp: tftpSchema.optional(),
  dhcp: dhcpSchema.optional(),
  http: httpSchema.optional(),
  ftp: ftpSchema.optional(),
  metrics: metricsSchema.optional(),
});

export type BootwireConfig = z.infer<typeof configSchema>;
export type DhcpConfig = z.infer<typeof dhcpSchema>;
export type SubnetConfig = z.infer<typeof subnetSchema>;
export type ClassConfig = z.infer<typeof classSchema>;
export type TftpConfig = z.infer<typeof tftpSchema>;
export type HttpConfig = z.infer<typeof httpSchema>;
export type NamesConfig = z.infer<typeof namesSchema>;
export type FtpConfig = z.infer<typeof ftpSchema>;
export type Matcher = z.infer<typeof matcher>;
