/**
 * How a phone gets one file during its boot: from its file servers in order (the one that answered
 * last time first), one phase record per attempt.
 */
import type { PhoneModel } from '../phones/models.js';
import type { FileServer } from '../phones/file-plan.js';
import { type FetchContext, type FetchOutcome, fetchFile, restrictProtocols } from './fetch.js';
import type { Phase, PhaseRecord, PhaseRecorder } from './phases.js';

/** The servers a phone tries, in order, for each file; the one that answered is tried first next time. */
export class ServerChoice {
  private preferred: FileServer | undefined;
  private httpWorked = false;
  constructor(
    private readonly servers: readonly FileServer[],
    private readonly noTftpAfterHttp: boolean,
  ) {}
  order(): FileServer[] {
    const rest = this.servers.filter((s) => s !== this.preferred);
    const all = this.preferred ? [this.preferred, ...rest] : rest;
    return this.noTftpAfterHttp && this.httpWorked ? all.filter((s) => s.protocol !== 'tftp') : all;
  }
  worked(s: FileServer): void {
    this.preferred = s;
    if (s.protocol === 'http' || s.protocol === 'https') this.httpWorked = true;
  }
}

/** A fetch, with the server that answered it (on a failure, the last one tried, if any was). */
export type Fetched =
  | (Extract<FetchOutcome, { ok: true }> & { server: FileServer })
  | (Extract<FetchOutcome, { ok: false }> & { server?: FileServer });

/** A file kept in memory (script, settings): its bytes and the server it came from, or why not. */
export type ReadResult =
  { ok: true; body: Buffer; server: FileServer } | { ok: false; error: string; notFound: boolean };

const EMPTY = Buffer.alloc(0);

export class FileGetter {
  constructor(
    private readonly model: PhoneModel,
    private readonly choice: ServerChoice,
    private readonly phases: PhaseRecorder,
    private readonly fetch: FetchContext | undefined,
  ) {}

  /** The servers for the next file, in the order the phone tries them. */
  order(): FileServer[] {
    return this.choice.order();
  }

  /**
   * Fetches `file` from `servers` in order until one has it; records one phase entry per attempt.
   * `onData` may stop a download (it returns why); `stopped` then ends the tries.
   */
  async get(
    phase: Phase,
    file: string,
    keep: boolean,
    servers = this.choice.order(),
    onData?: (c: Buffer) => string | undefined,
    stopped?: () => boolean,
  ): Promise<Fetched> {
    const { model, phases } = this;
    let last: Fetched | undefined;
    for (const server of restrictProtocols(servers, this.fetch?.protocols)) {
      phases.begin(phase);
      const t0 = performance.now();
      const r = await fetchFile(
        server,
        model,
        {
          file,
          keep,
          ...(onData ? { onData } : {}),
          ...(phase === 'image' ? { deadlineMs: model.tftp.imageDeadlineMs ?? 600_000 } : {}),
        },
        this.fetch,
      );
      const rec: PhaseRecord = {
        phase,
        file,
        protocol: server.protocol,
        bytes: r.bytes,
        ms: r.ms,
        ok: r.ok,
        at: phases.at(t0),
        retransmits: r.retransmits,
        url: r.url,
      };
      if (!r.ok) rec.error = r.error;
      phases.add(rec);
      if (r.ok) {
        this.choice.worked(server);
        return { ...r, server };
      }
      last = { ...r, server };
      if (stopped?.()) break; // the phone stopped the download itself
    }
    return (
      last ?? { ok: false, bytes: 0, ms: 0, retransmits: 0, error: 'no file server to try', url: file, notFound: false }
    );
  }

  /** A script or settings file, kept in memory. */
  async read(phase: Phase, file: string, servers?: FileServer[]): Promise<ReadResult> {
    const r = await this.get(phase, file, true, servers);
    if (!r.ok) return { ok: false, error: r.error, notFound: r.notFound };
    return { ok: true, body: r.body ?? EMPTY, server: r.server }; // a kept fetch has its body
  }
}
