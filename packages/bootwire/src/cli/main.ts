#!/usr/bin/env node
/** The `bootwire` command. Usage errors exit with 2, failed transfers with 1. */
import { Command, CommanderError } from 'commander';
import type { BootFlags } from './boot.js';
import type { CheckFlags } from './check.js';
import type { DecodeFlags } from './decode.js';
import type { ClientFlags } from './get.js';
import type { InitFlags } from './init.js';
import type { LeasesFlags } from './leases.js';
import type { ReplayFlags } from './replay.js';
import type { ServeFlags } from './serve.js';
import type { StormFlags } from './storm.js';
import { UsageError } from '@bootwire/core';

// Each subcommand's modules load when it runs: `decode` need not load servers, SQLite or workers
// (that was two thirds of its start-up).

const program = new Command('bootwire')
  .description(
    'Provisioning engine for IP phones: TFTP, HTTP and DHCP servers, phone simulation, capture decoding and ' +
      'replay, and the boot-storm benchmark',
  )
  .exitOverride()
  .showHelpAfterError(false)
  // Options belong to the command they follow (`leases release --ip` is release's, not the list's).
  .enablePositionalOptions();

/** An option given again adds to the list (`--backup a=x --backup b=y`). */
const repeatable = (v: string, acc: string[]): string[] => [...acc, v];

const serveCommand = program
  .command('serve')
  .description(
    'serve a root over TFTP (default: the example root `init` writes, on 127.0.0.1:6969), HTTP/HTTPS, and DHCP ' +
      'from a config file',
  )
  .option(
    '--config <file>',
    'bootwire.json: root, tftp and dhcp sections (flags typed here override its tftp settings)',
  )
  .option('--root <dir>', 'directory to serve (default: the bundled example root)')
  .option('--tftp <host:port>', 'TFTP listen address', '127.0.0.1:6969')
  .option('--http <host:port>', 'also serve the root over HTTP (the same file copies as TFTP)')
  .option('--https <host:port>', 'also serve the root over HTTPS; needs --cert and --key')
  .option('--cert <file>', 'PEM certificate (chain) for --https')
  .option('--key <file>', 'PEM private key for --https')
  .option(
    '--backup <prefix=dir>',
    'HTTP(S) backup area (Avaya BRURI): PUT/GET/HEAD/DELETE under PREFIX, stored durably in DIR (repeatable)',
    repeatable,
    [] as string[],
  )
  .option(
    '--backup-user <user:pass>',
    'Basic credentials the --backup areas require (repeatable)',
    repeatable,
    [] as string[],
  )
  .option('--backup-max-kb <n>', 'largest backup a PUT may store (default 1024)')
  .option('--ftp <host:port>', 'also serve the root over read-only FTP (the same file copies as TFTP)')
  .option('--ftp-passive-ports <a-b>', 'FTP passive data ports (default: any free port)')
  .option(
    '--ftp-advertise <address>',
    'the IPv4 address FTP PASV announces (default: the local address the client reached)',
  )
  .option('--ftp-user <user:pass>', 'an FTP login besides anonymous (repeatable)', repeatable, [] as string[])
  .option('--allow-write', 'accept uploads (WRQ)')
  .option('--allow-overwrite', 'let uploads replace existing files')
  .option('--max-upload-mb <n>', 'largest upload accepted', '64')
  .option('--max-transfers <n>', 'concurrent transfers before "server busy" (default 2000)')
  .option('--timeout-ms <ms>', 'retransmission timeout when the client sends none', '1000')
  .option('--retries <n>', 'retransmissions before a transfer is abandoned', '5')
  .option('--max-blksize <n>', 'largest blksize granted', '65464')
  .option('--max-windowsize <n>', 'largest windowsize granted', '64')
  .option('--workers <n>', 'worker threads running transfers; 0 runs them on the main thread (default: one per core)')
  .option('--cache-mb <n>', 'memory kept for idle file copies', '512')
  .option('--max-client-timeout <s>', 'longest client timeout option honoured; a longer one is declined (default 5)')
  .option('--max-transfer-seconds <s>', "a transfer's whole life before ERROR 0 (default 600)")
  .option(
    '--max-transfers-per-address <n>',
    'concurrent transfers of one client address; its oldest idle one is reclaimed first (default 64; raise it ' +
      'for phones behind NAT)',
  )
  .option(
    '--max-request-rate <n>',
    'requests a second from one source address, past it dropped; 0: no limit (default 200)',
  )
  .option('--retries-before-answer <n>', 'packets resent to a client that has not answered yet (default 1)')
  .option('--max-unacked-kb <n>', 'DATA a transfer may have sent and not had acknowledged (default 512)')
  .option(
    '--remap <file>',
    "rewrite requested names (TFTP, HTTP) with tftpd-hpa's -m rules; {mac}, {MAC}, {model} from bootwire's DHCP leases",
  )
  .option('--lowercase', 'fold requested names to lowercase before the rules (dnsmasq --tftp-lowercase)')
  .option(
    '--unique-root <mac|ip>',
    "serve ROOT/<client>/NAME when it exists, else ROOT/NAME (dnsmasq tftp-unique-root); mac: from bootwire's " +
      'DHCP leases, as 00-90-8f-b0-00-09',
  )
  .option('--grace <s>', 'on SIGINT/SIGTERM, seconds to let transfers finish', '5')
  .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
  .option('--log-format <format>', 'json (one object per line) or pretty (one readable line per record)', 'json')
  .option(
    '--log-rate <n>',
    'per-packet and per-request records (DHCP messages, refused requests) logged a second of each kind; the rest ' +
      'counted every 10 s; 0: all',
    '50',
  )
  .option('--metrics <host:port>', 'serve Prometheus metrics at GET /metrics (config: metrics.listen)')
  .option('--user <name>', 'run as this user once the ports are bound (start as root)')
  .action(async (flags: ServeFlags) =>
    (await import('./serve.js')).serve(flags, (name) => serveCommand.getOptionValueSource(name) === 'cli'),
  );

const leasesSource = (c: Command) =>
  c
    .option(
      '--config <file>',
      "bootwire.json: its dhcp.leases file (and the running server's control socket beside it)",
    )
    .option('--db <file>', 'the leases file itself');

const leasesCommand = leasesSource(
  program
    .command('leases')
    .description(
      "list DHCP leases: through the running server's control socket, else from the leases file (in force by default)",
    )
    .option('--mac <mac>', 'only this MAC')
    .option('--ip <address>', 'only this address')
    .option('--subnet <cidr>', 'only addresses in this subnet')
    .option('--expired', 'only leases that ran out or were released')
    .option('--json', 'one JSON object: {"source","leases":[…]}')
    // `leases release --config F`: the subcommand's own options, not the list's.
    .enablePositionalOptions(),
).action(async (flags: LeasesFlags) => (await import('./leases.js')).listLeases(flags));

leasesSource(
  leasesCommand
    .command('release')
    .description(
      'free an address (--ip), or every lease of a MAC (--mac): a bound lease is released now, a DECLINE ' +
        'quarantine lifted',
    )
    .option('--mac <mac>', 'every lease in force of this MAC')
    .option('--ip <address>', 'the lease of this address')
    .option('--json', 'one JSON object: {"source","released":[…],"refused":[…]}'),
).action(async (flags: LeasesFlags) => (await import('./leases.js')).releaseLeases(flags));

const clientOptions = (c: Command) =>
  c
    .option('--blksize <n>', 'request blksize (RFC 2348)')
    .option('--windowsize <n>', 'request windowsize (RFC 7440)')
    .option('--timeout <s>', 'request timeout in seconds (RFC 2349); also the retransmission timeout')
    .option('--tsize', 'request/announce the transfer size (RFC 2349)')
    .option('--mode <mode>', 'octet or netascii', 'octet')
    .option('--retries <n>', 'retransmissions before giving up', '5');

clientOptions(
  program
    .command('get')
    .description('fetch tftp://HOST[:PORT]/FILE')
    .argument('<url>')
    .option('-o, --output <file>', 'where to write (- for stdout; default: the file name in the current directory)'),
).action(async (url: string, f: ClientFlags) => (await import('./get.js')).get(url, f));

clientOptions(
  program.command('put').description('upload FILE to tftp://HOST[:PORT]/NAME').argument('<file>').argument('<url>'),
).action(async (file: string, url: string, f: ClientFlags) => (await import('./get.js')).put(file, url, f));

program
  .command('replay')
  .description("replay a capture's TFTP and DHCP client side against a server and check it answers as recorded")
  .argument('<capture>')
  .option('--server <target>', 'TFTP: builtin (serves the files rebuilt from the capture) or HOST:PORT', 'builtin')
  .option('--dhcp <target>', 'DHCP: builtin (configured from the recorded replies) or HOST:PORT', 'builtin')
  .option(
    '--relay <host:port>',
    'DHCP: where the replay relay socket binds (giaddr); default 127.0.0.1:0, or port 67 toward HOST',
  )
  .option('--timeout-ms <ms>', 'retransmission timeout of the replayed clients', '1000')
  .action(async (capture: string, flags: ReplayFlags) => (await import('./replay.js')).replay(capture, flags));

program
  .command('decode')
  .description('print every DHCP and TFTP message of a capture (pcap, pcapng, gzip), one line each')
  .argument('<capture>')
  .option('--json', 'one JSON object per message per line')
  .option('--warnings', "also print the capture reader's warnings (skipped or doubtful packets) on stderr")
  .action(async (file: string, flags: DecodeFlags) => (await import('./decode.js')).decode(file, flags));

program
  .command('check')
  .description(
    'lint a provisioning root: script syntax and labels, files named by SET APPNAME, GET or FILENAME, image ' +
      'headers against their models',
  )
  .argument('<root>')
  .option('--json', 'one JSON object instead of file:line: message lines')
  .action(async (root: string, flags: CheckFlags) => (await import('./check.js')).check(root, flags));

program
  .command('init')
  .description('write an example provisioning root for every phone model, with a bootwire.json serving it')
  .argument('<root>')
  .option('--image-size <size>', "payload size of every image, e.g. 1M or 8M (default: each model's typical size)")
  .option('--force', 'replace a root an earlier init wrote')
  .option('--seed <n>', 'seed of the generated image bytes', '1')
  .action(async (root: string, flags: InitFlags) => (await import('./init.js')).init(root, flags));

program
  .command('boot')
  .description('boot one simulated phone as its manual says: DHCP, script, image (when it differs), settings')
  .requiredOption('--model <model>', 'phone model: 4610, 4620, 1608, 9608, 9611, 1220, 1230, 420HD, 440HD, …')
  .requiredOption('--mac <mac>', "the phone's MAC address")
  .option('--dhcp <host:port|none>', 'DHCP server, reached relay-style (unicast, giaddr = --relay)', '127.0.0.1:6767')
  .option(
    '--dhcp-timeout-ms <ms>',
    'first DHCP retransmission timeout, doubled at each of 4 retries (1000: about 31 s before giving up)',
    '1000',
  )
  .option('--relay <host:port>', 'where the relay socket binds: the server sends its replies there', '127.0.0.1:6768')
  .option(
    '--link-selection <address|none>',
    'RFC 3527 link selection sent by the relay (the phone subnet)',
    '10.77.0.1',
  )
  .option(
    '--server <url>',
    'skip DHCP: the file server URL (tftp://, http://, https://, ftp://; for the 400HD a provisioning URL)',
  )
  .option('--state <dir>', 'remember what the phone runs between boots (one JSON file per MAC)')
  .option('--backup-user <user:pass>', 'credentials the phone gives a backup server that asks (BRAUTH, or a 401)')
  .option(
    '--redirect <map>',
    'PROTO://HOST[:PORT]=HOST:PORT: where a server named by DHCP really answers (repeatable)',
    repeatable,
    [] as string[],
  )
  .option('--json', 'one JSON object instead of the timeline')
  .action(async (flags: BootFlags) => (await import('./boot.js')).boot(flags));

program
  .command('storm')
  .description(
    'a boot storm: hundreds of simulated phones of the real models booting at once, measured (default: 200 ' +
      'phones against bootwire on loopback)',
  )
  .option('--phones <n>', 'phones in the fleet', '200')
  .option('--mix <mix>', 'models and shares', '4610=30%,1608=10%,9608=30%,1230=10%,440HD=20%')
  .option('--image-size <size>', "size of every generated image (default: each model's typical size)")
  .option('--loss <p>', "datagrams lost at the phones' sockets (0.05 or 5%)", '0')
  .option('--duplicate <p>', 'datagrams delivered twice', '0')
  .option('--reorder <p>', 'datagrams held back behind later ones', '0')
  .option('--stagger <ms>', "spread the phones' power-up over this many milliseconds", '0')
  .option(
    '--server <builtin|url>',
    'bootwire on loopback, or another file server (tftp://HOST:PORT/, http://HOST:PORT/, ftp://HOST:PORT/) with ' +
      '--dhcp none',
    'builtin',
  )
  .option('--dhcp <builtin|host:port|none>', "DHCP: bootwire's, another server (relay-style), or none", 'builtin')
  .option(
    '--protocols <list>',
    'keep every phone on these (tftp, http, https, ftp): other servers are reached with the first',
  )
  .option('--client-blksize <n>', 'every TFTP request asks for this blksize (RFC 2348)')
  .option('--client-windowsize <n>', 'every TFTP request asks for this windowsize (RFC 7440)')
  .option('--compare <peers>', 'also run the fleet against these installed servers: tftpd-hpa,atftpd,dnsmasq (root)')
  .option('--rounds <n>', 'with --compare: rounds, alternating the order; the median round is shown', '1')
  .option('--workers <n>', 'simulator threads (default: cores, at most 4)')
  .option('--server-workers <n>', "bootwire's TFTP transfer workers")
  .option('--root <dir>', 'serve this provisioning root instead of a generated one')
  .option('--seed <n>', 'seed of the MACs and of the injected faults', '1')
  .option('--relay-port <port>', 'with --dhcp HOST:PORT: the port its replies go to (67 for standard servers)')
  .option(
    '--site',
    'boot in a site built in network namespaces: voice subnets behind a DHCP relay (ISC dhcrelay), the server ' +
      'behind a shaped uplink (root)',
  )
  .option('--voice-subnets <n>', 'with --site: voice subnets (default 2, more above 480 phones)')
  .option('--uplink <rate>', "with --site: the server uplink's rate (tbf), e.g. 1gbit, 100mbit, or none", '1gbit')
  .option('--uplink-queue <ms>', "with --site: the uplink's queue, as milliseconds at its rate", '5')
  .option('--uplink-delay <ms>', 'with --site: one-way delay on the uplink (netem, where the kernel has it)')
  .option('--uplink-loss <p>', 'with --site: loss on the uplink (netem, where the kernel has it)')
  .option('--json', 'one JSON object (with --compare: {"runs":[…]})')
  .option('--full-json', "the JSON with every phone's times (for reports)")
  .option('--report <file.html>', 'write a self-contained HTML report with charts')
  .option('--no-progress', 'no live display')
  .action(async (flags: StormFlags) => (await import('./storm.js')).storm(flags, process.argv.slice(3)));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version exit 0; everything else commander rejects is a usage error.
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  if (e instanceof UsageError) {
    process.stderr.write(`bootwire: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bootwire: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
}
