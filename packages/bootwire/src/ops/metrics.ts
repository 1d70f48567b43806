/**
 * Prometheus metrics of a running `bootwire serve` (prom-client), served as text at `/metrics`.
 *
 * Nothing here runs per packet. A transfer updates its counters once, when it ends (its record
 * arrives from the worker thread that ran it, as before); an HTTP request once, when its response
 * closes. Everything the servers already count per packet in plain fields (DHCP messages by type,
 * the transfers' UDP sends that met back-pressure, active transfers) is read from their `stats()` when
 * Prometheus scrapes, and counters move by the difference since the last scrape. The DHCP lease and
 * pool gauges are one pass over the leases in memory per scrape.
 */
import http from 'node:http';
import client from 'prom-client';
import type { HttpTransferRecord, TftpTransferRecord } from '@bootwire/core';
import { type Endpoint, listenTcp } from '@bootwire/core';
import type { DhcpServer } from '@bootwire/dhcp';
import type { FtpServer, FtpTransferRecord } from '@bootwire/ftp';
import type { HttpFileServer } from '@bootwire/http';
import type { TftpServer } from '@bootwire/tftp';
import type { TransferOutcome } from './transfer-log.js';

/** Methods counted by name; anything else a client sends is `other` (labels stay few). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']);

/** Transfer times: a 1 KB script on a LAN to a 40 MB image over a slow, lossy link. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event-loop lag, handles): prom-client's defaults. Default true. */
  processMetrics?: boolean;
}

export class BootwireMetrics {
  readonly registry = new client.Registry();
  private tftp: TftpServer | undefined;
  private http: HttpFileServer | undefined;
  private dhcp: DhcpServer | undefined;
  private readonly transfers: client.Counter<'protocol' | 'result'>;
  private readonly bytes: client.Counter<'protocol'>;
  private readonly seconds: client.Histogram<'protocol'>;
  private readonly retransmits: client.Counter;
  private readonly httpRequests: client.Counter<'method' | 'status'>;
  /** One lease summary per scrape, shared by the gauges that show it. */
  private summary: { at: number; value: ReturnType<DhcpServer['leaseSummary']> } | undefined;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const self = this;
    this.transfers = new client.Counter({
      name: 'bootwire_transfers_total',
      help:
        'Transfers ended, by protocol and result: ok, failed (started, not finished), refused (answered ' +
        'with an error before any data)',
      labelNames: ['protocol', 'result'],
      registers,
    });
    this.bytes = new client.Counter({
      name: 'bootwire_transfer_bytes_total',
      help: 'File bytes sent or received by finished transfers',
      labelNames: ['protocol'],
      registers,
    });
    this.seconds = new client.Histogram({
      name: 'bootwire_transfer_seconds',
      help: 'Duration of finished transfers',
      labelNames: ['protocol'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.retransmits = new client.Counter({
      name: 'bootwire_tftp_retransmits_total',
      help: 'TFTP packets sent again (timeouts, gaps) by finished transfers',
      registers,
    });
    this.httpRequests = new client.Counter({
      name: 'bootwire_http_requests_total',
      help: 'HTTP and HTTPS responses, by method and status',
      labelNames: ['method', 'status'],
      registers,
    });
    // Zeroes from the start: a rate over a series that appears late misses its first increase.
    for (const p of ['tftp', 'http', 'https'] as const) {
      for (const r of ['ok', 'failed', 'refused'] as const) this.transfers.labels(p, r).inc(0);
      this.bytes.labels(p).inc(0);
    }

    new client.Gauge({
      name: 'bootwire_active_transfers',
      help: 'Transfers (TFTP) and responses (HTTP, HTTPS together as http) running now',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        if (self.tftp) this.set({ protocol: 'tftp' }, self.tftp.stats().activeTransfers);
        if (self.http) this.set({ protocol: 'http' }, self.http.stats().activeRequests);
      },
    });
    let deferredSeen = 0;
    new client.Counter({
      name: 'bootwire_udp_send_backpressure_total',
      help:
        "TFTP sends that found the socket buffer or the interface queue full and waited (the transports' " +
        'deferred count, added when each transfer ends)',
      registers,
      collect() {
        const now = self.tftp?.stats().udp.deferred ?? deferredSeen;
        if (now > deferredSeen) this.inc(now - deferredSeen);
        deferredSeen = now;
      },
    });
    const messagesSeen = new Map<string, number>();
    new client.Counter({
      name: 'bootwire_dhcp_messages_total',
      help:
        'DHCP messages received (direction in; malformed ones as type malformed) and replies sent (out), ' +
        'by message type',
      labelNames: ['type', 'direction'],
      registers,
      collect() {
        if (!self.dhcp) return;
        const st = self.dhcp.stats();
        const move = (type: string, direction: 'in' | 'out', total: number) => {
          const key = `${direction} ${type}`;
          const seen = messagesSeen.get(key) ?? 0;
          if (total > seen || !messagesSeen.has(key)) this.inc({ type, direction }, total - seen);
          messagesSeen.set(key, total);
        };
        for (const [type, n] of Object.entries(st.receivedByType)) move(type, 'in', n);
        move('malformed', 'in', st.malformed);
        for (const [type, n] of Object.entries(st.sent)) move(type, 'out', n);
      },
    });
    new client.Gauge({
      name: 'bootwire_dhcp_leases',
      help: 'DHCP lease rows by subnet and state: bound (in force), expired, released, declined (quarantined)',
      labelNames: ['subnet', 'state'],
      registers,
      collect() {
        this.reset();
        for (const s of self.leaseSummary())
          for (const [state, n] of Object.entries(s.states)) this.set({ subnet: s.subnet, state }, n);
      },
    });
    new client.Gauge({
      name: 'bootwire_dhcp_pool_addresses',
      help:
        "Addresses each subnet's pool can hand out (network, broadcast, the server's own and reserved " +
        'addresses left out)',
      labelNames: ['subnet'],
      registers,
      collect() {
        this.reset();
        for (const s of self.leaseSummary()) this.set({ subnet: s.subnet }, s.poolSize);
      },
    });
    new client.Gauge({
      name: 'bootwire_dhcp_pool_utilization',
      help: "Share (0 to 1) of each subnet's pool bound to a client or on offer",
      labelNames: ['subnet'],
      registers,
      collect() {
        this.reset();
        for (const s of self.leaseSummary())
          this.set({ subnet: s.subnet }, s.poolSize === 0 ? 0 : s.inUse / s.poolSize);
      },
    });
    if (options.processMetrics ?? true) client.collectDefaultMetrics({ register: this.registry });
  }

  private leaseSummary(): ReturnType<DhcpServer['leaseSummary']> {
    if (!this.dhcp) return [];
    const now = Date.now();
    if (!this.summary || now - this.summary.at > 100) this.summary = { at: now, value: this.dhcp.leaseSummary() };
    return this.summary.value;
  }

  /**
   * One ended transfer of any protocol (TFTP, HTTP, and others that report theirs the same way):
   * `ms` is left out for a refusal, which moved no data.
   */
  countTransfer(protocol: string, result: TransferOutcome, bytes: number, ms?: number): void {
    this.transfers.labels(protocol, result).inc();
    if (bytes) this.bytes.labels(protocol).inc(bytes);
    if (ms !== undefined) this.seconds.labels(protocol).observe(ms / 1000);
  }

  /** Counts the transfers of `server` from now on (records it emits anyway, one per transfer). */
  watchTftp(server: TftpServer): void {
    this.tftp = server;
    server.on('transfer-end', (r: TftpTransferRecord) => {
      this.countTransfer('tftp', r.result, r.bytes, r.result === 'refused' ? undefined : r.ms);
      if (r.retransmits) this.retransmits.inc(r.retransmits);
    });
  }

  /** Counts the responses of `server` from now on (one record per response, when it closes). */
  watchHttp(server: HttpFileServer): void {
    this.http = server;
    server.on('transfer-end', (r: HttpTransferRecord) => {
      this.countTransfer(r.protocol, r.result, r.bytes, r.ms);
      this.httpRequests.labels(METHODS.has(r.method) ? r.method : 'other', String(r.status)).inc();
    });
  }

  /** Counts the FTP transfers (RETR and listings) of `server` from now on. */
  watchFtp(server: FtpServer): void {
    server.on('transfer', (r: FtpTransferRecord) => this.countTransfer('ftp', r.ok ? 'ok' : 'failed', r.bytes, r.ms));
  }

  watchDhcp(server: DhcpServer): void {
    this.dhcp = server;
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export interface MetricsListener {
  address(): Endpoint;
  close(): Promise<void>;
}

/** Serves `metrics` at `GET /metrics` on host:port (anything else: 404). */
export async function serveMetrics(metrics: BootwireMetrics, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer(
    { requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('bootwire serves its metrics at GET /metrics\n');
        return;
      }
      metrics.text().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (e: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`),
      );
    },
  );
  server.maxConnections = 64;
  await listenTcp(server, { port, host });
  return {
    address: () => {
      const a = server.address() as Endpoint;
      return { address: a.address, port: a.port };
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
