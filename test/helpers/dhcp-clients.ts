/** What the DHCP interop tests give real clients (ISC dhclient, busybox udhcpc) and read back from them. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** `NAME=value` lines (as `env | sort` writes them) as an object. */
export function envOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/**
 * ISC dhclient as an Avaya phone, in `dir`: dhclient.conf sends the vendor class (and `clientId`, when
 * given), asks for option 242 among others and gives up after `timeout` seconds; dhclient-script.sh
 * writes the BOUND environment to `envFile`.
 */
export async function writeAvayaDhclient(
  dir: string,
  o: { envFile: string; timeout: number; clientId?: string },
): Promise<{ conf: string; script: string }> {
  const conf = path.join(dir, 'dhclient.conf');
  await fs.writeFile(
    conf,
    [
      'option avaya-242 code 242 = text;',
      'send vendor-class-identifier "ccp.avaya.com";',
      ...(o.clientId !== undefined ? [`send dhcp-client-identifier ${o.clientId};`] : []),
      'request subnet-mask, routers, tftp-server-name, bootfile-name, avaya-242;',
      `timeout ${o.timeout}; retry 1; initial-interval 1;`,
      '',
    ].join('\n'),
  );
  const script = path.join(dir, 'dhclient-script.sh');
  await fs.writeFile(script, `#!/bin/sh\n[ "$reason" = BOUND ] && env | sort > "${o.envFile}"\nexit 0\n`, {
    mode: 0o755,
  });
  return { conf, script };
}
