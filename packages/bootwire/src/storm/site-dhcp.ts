/**
 * One site's DHCP service, said three ways: bootwire's config, ISC Kea's and dnsmasq's, so that a storm
 * in a site (src/storm/site.ts) measures each server on the same leases and the same per-model options.
 *
 * The classes come from the provisioning root's bootwire.json (as `bootwire init` writes it), with the
 * file server's address made the site's. bootwire takes the first class that matches; Kea and dnsmasq
 * apply every class that matches, so each peer class is written as "this one and none before it".
 * Peers match a vendor class by prefix (Kea) or substring (dnsmasq): a bootwire `regex` matcher is
 * translated into the fleet's vendor classes it matches.
 */
import type { ClassConfig, Matcher } from '../config/schema.js';
import { dhcpIdentity, type PhoneModel } from '../phones/models.js';
import type { Site } from './site.js';

/** What the classes of `bootwire init`'s root name as the file server. */
const EXAMPLE_FILE_SERVER = '10.77.0.1';
const LEASE_SECONDS = 3600;

export interface SiteDhcp {
  subnets: { cidr: string; first: string; last: string; gateway: string; tag: string }[];
  /** Options every phone gets. */
  options: Record<string, string>;
  classes: { name: string; vendorClasses?: string[]; macPrefix?: string; options: Record<string, string> }[];
  /** The classes as bootwire reads them. */
  bootwireClasses: ClassConfig[];
}

/** An option's config value as the peers get it: a list comma-separated (as String gives it), an object as JSON. */
function optionText(v: string | number | boolean | readonly unknown[] | object): string {
  if (Array.isArray(v)) return v.join(',');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function vendorClassesMatching(m: Matcher, fleet: readonly string[]): string[] {
  if (typeof m === 'string') return [m];
  if ('exact' in m) return [m.exact];
  if ('prefix' in m) return [m.prefix];
  const re = new RegExp(m.regex);
  return fleet.filter((v) => re.test(v));
}

/** The site's DHCP from the root's classes (`classes` of its bootwire.json) and the fleet's models. */
export function siteDhcp(
  site: Site,
  serverAddress: string,
  classes: readonly ClassConfig[],
  models: readonly PhoneModel[],
): SiteDhcp {
  const retarget = (c: ClassConfig): ClassConfig =>
    JSON.parse(JSON.stringify(c).replaceAll(EXAMPLE_FILE_SERVER, serverAddress)) as ClassConfig;
  const bootwireClasses = classes.map(retarget);
  const fleet = [
    ...new Set(
      models.map((m) => dhcpIdentity(m, '00:00:00:00:00:00').vendorClass).filter((v): v is string => v !== undefined),
    ),
  ];
  const peerClasses = bootwireClasses.map((c, i) => {
    const name = c.name ?? `class${i}`;
    const { vendorClass, macPrefix, ...other } = c.match;
    const unsupported = Object.keys(other).filter((k) => (other as Record<string, unknown>)[k] !== undefined);
    if (unsupported.length)
      throw new Error(`class ${name}: ${unsupported.join(', ')} matching is not translated for the peers in a site`);
    const options = Object.fromEntries(Object.entries(c.options ?? {}).map(([k, v]) => [k, optionText(v)]));
    return {
      name,
      ...(vendorClass !== undefined ? { vendorClasses: vendorClassesMatching(vendorClass, fleet) } : {}),
      ...(macPrefix ? { macPrefix: macPrefix.toLowerCase() } : {}),
      options,
    };
  });
  return {
    subnets: site.voice.map((v) => ({
      cidr: v.cidr,
      first: v.phones[0]!,
      last: v.phones.at(-1)!,
      gateway: v.gateway,
      tag: `v${v.index}`,
    })),
    options: { '6': serverAddress, '15': 'example.test' },
    classes: peerClasses,
    bootwireClasses,
  };
}

/** bootwire's `dhcp` section: every address on the server's one interface, relayed subnets only. */
export function bootwireDhcpConfig(d: SiteDhcp, leases: string): Record<string, unknown> {
  return {
    listen: '0.0.0.0:67',
    relayPort: 67,
    leases,
    subnets: d.subnets.map((s) => ({
      subnet: s.cidr,
      pool: `${s.first}-${s.last}`,
      leaseSeconds: LEASE_SECONDS,
      options: { router: s.gateway, 'domain-name-server': d.options['6'], 'domain-name': d.options['15'] },
    })),
    classes: d.bootwireClasses,
  };
}

/** Option codes Kea 2.2 defines itself (it refuses a definition of its own for them). */
const KEA_STANDARD = new Set([1, 3, 6, 12, 15, 42, 43, 60, 66, 67, 77]);

/** ISC Kea's kea-dhcp4.json: memfile leases, relayed subnets, a client class per bootwire class. */
export function keaConfig(d: SiteDhcp, iface: string, dir: string): Record<string, unknown> {
  const codes = new Set(d.classes.flatMap((c) => Object.keys(c.options).map(Number)));
  const optionDef = [...codes]
    .filter((c) => !KEA_STANDARD.has(c))
    .map((code) => ({ name: `bootwire-${code}`, code, type: 'string', space: 'dhcp4' }));
  // Kea reads a string option's data as comma-separated values: a comma inside the string is escaped.
  const data = (code: string, value: string) => ({
    code: Number(code),
    data: value.replaceAll(',', '\\,'),
    'csv-format': true,
    'always-send': true,
  });
  const str = (s: string) => `'${s.replaceAll("'", "\\'")}'`;
  const test = (c: SiteDhcp['classes'][number]): string => {
    const parts: string[] = [];
    if (c.vendorClasses) {
      const any = c.vendorClasses.map((v) => `(substring(option[60].text,0,${Buffer.byteLength(v)}) == ${str(v)})`);
      parts.push(any.length ? `(${any.join(' or ')})` : "not member('ALL')");
    }
    if (c.macPrefix)
      parts.push(`(substring(pkt4.mac,0,${c.macPrefix.split(':').length}) == 0x${c.macPrefix.replaceAll(':', '')})`);
    return parts.length ? parts.join(' and ') : "member('ALL')";
  };
  return {
    Dhcp4: {
      'interfaces-config': { interfaces: [iface], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: true, name: `${dir}/kea-leases4.csv`, 'lfc-interval': 0 },
      'valid-lifetime': LEASE_SECONDS,
      ...(optionDef.length ? { 'option-def': optionDef } : {}),
      'option-data': Object.entries(d.options).map(([k, v]) => data(k, v)),
      'client-classes': d.classes.map((c, i) => ({
        name: c.name,
        // bootwire's first match: this class, and none of those before it.
        test: [test(c), ...d.classes.slice(0, i).map((b) => `not (${test(b)})`)].join(' and '),
        'option-data': Object.entries(c.options).map(([k, v]) => data(k, v)),
      })),
      subnet4: d.subnets.map((s, i) => ({
        id: i + 1,
        subnet: s.cidr,
        pools: [{ pool: `${s.first}-${s.last}` }],
        'option-data': [data('3', s.gateway)],
      })),
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: `${dir}/kea.log` }], severity: 'WARN' }],
    },
  };
}

/**
 * dnsmasq's DHCP, as the lines of a configuration file (it serves relayed ranges it has no interface
 * on). A file and not the command line: only its reader takes quoted values with commas in them.
 */
export function dnsmasqDhcpConf(d: SiteDhcp, dir: string): string {
  const lines = ['no-ping', `dhcp-leasefile=${dir}/dnsmasq.leases`, 'dhcp-lease-max=100000', 'quiet-dhcp'];
  for (const s of d.subnets)
    lines.push(
      `dhcp-range=set:${s.tag},${s.first},${s.last},255.255.255.0,${LEASE_SECONDS}`,
      `dhcp-option=tag:${s.tag},3,${s.gateway}`,
    );
  for (const [k, v] of Object.entries(d.options)) lines.push(`dhcp-option=${k},${v}`);
  d.classes.forEach((c, i) => {
    // Two conditions (vendor class and MAC) need two tags, both required.
    if (c.vendorClasses) for (const v of c.vendorClasses) lines.push(`dhcp-vendorclass=set:c${i}v,${v}`);
    if (c.macPrefix) lines.push(`dhcp-mac=set:c${i}m,${c.macPrefix}${':*'.repeat(6 - c.macPrefix.split(':').length)}`);
    const own = [...(c.vendorClasses ? [`tag:c${i}v`] : []), ...(c.macPrefix ? [`tag:c${i}m`] : [])];
    // "None before it": an earlier class of one condition is excluded by its tag (tags only combine with "and").
    const before = d.classes
      .slice(0, i)
      .flatMap((b, j) =>
        b.vendorClasses && !b.macPrefix ? [`tag:!c${j}v`] : !b.vendorClasses && b.macPrefix ? [`tag:!c${j}m`] : [],
      );
    for (const [code, value] of Object.entries(c.options))
      lines.push(`dhcp-option-force=${[...own, ...before, code].join(',')},"${value}"`);
  });
  return `${lines.join('\n')}\n`;
}
