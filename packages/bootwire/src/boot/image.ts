/**
 * The application image phase: downloaded and checked as it streams in, "burnt" (recorded in the
 * phone's state) only when whole and right. A phone stops a download whose header it refuses, or,
 * deciding on the header (400HD), one whose version it already runs.
 */
import type { FileServer } from '../phones/file-plan.js';
import { decodeImageHeader, IMAGE_HEADER_BYTES, ImageVerifier } from '../phones/image-header.js';
import { decideImage } from '../phones/image-policy.js';
import type { FlowContext } from './flow.js';
import { DONE, failed, type StepResult } from './phases.js';

export interface ImageRequest {
  file: string;
  /** Where to get it; default: the phone's file servers in order. */
  servers?: FileServer[];
  /** Decide from the image header whether to download at all (the version is in it). */
  decideOnHeader: boolean;
  /** The version the provisioning file announced, recorded when the image is burnt. */
  version?: string;
}

export async function downloadImage(ctx: FlowContext, req: ImageRequest): Promise<StepResult> {
  const { o, report, state, running, phases } = ctx;
  const model = o.model;
  const { file, decideOnHeader } = req;
  const verifier = new ImageVerifier({ model: model.name });
  let head = Buffer.alloc(0);
  let stopReason: string | undefined;
  let rejected = false;
  /** Each chunk as it arrives: undefined to go on, or why the phone stops the download. */
  const onData = (c: Buffer): string | undefined => {
    verifier.update(c);
    if (verifier.failed) {
      // A phone stops a download whose header it refuses; only a bad digest waits for the end.
      rejected = true;
      return verifier.failed.message;
    }
    if (!decideOnHeader || head.length >= IMAGE_HEADER_BYTES) return undefined;
    head = Buffer.concat([head, c.subarray(0, IMAGE_HEADER_BYTES - head.length)]);
    if (head.length < IMAGE_HEADER_BYTES) return undefined;
    // 400HD: the version is in the header; a phone that already runs it stops here.
    const h = decodeImageHeader(head);
    if (!h.ok) return undefined; // the verifier reports it at the end
    const v = decideImage(model, running, { name: file, version: h.header.version });
    report.imageDecision = v.reason;
    if (v.download) return undefined;
    stopReason = v.reason;
    return v.reason;
  };
  const r = await ctx.files.get(
    'image',
    file,
    false,
    req.servers ?? ctx.files.order(),
    onData,
    () => stopReason !== undefined || rejected,
  );
  if (stopReason !== undefined) {
    // Not downloaded: the phase entry stays (the header was read), marked as a stop, not a failure.
    const rec = phases.last();
    if (rec) {
      rec.ok = true;
      delete rec.error;
    }
    return DONE;
  }
  if (!r.ok && !rejected) return failed('image', `image ${file}: ${r.error}`);
  const verdict = verifier.finish();
  if (!verdict.ok) {
    const rec = phases.last();
    if (rec) {
      rec.ok = false;
      rec.error = `${verdict.error.code}: ${verdict.error.message}`;
    }
    return failed(
      'image',
      `image ${file} is not fit to burn (${verdict.error.code}): ${verdict.error.message}; the phone keeps ` +
        `${running.name ?? 'its current software'}`,
    );
  }
  report.imageDownloaded = true;
  state.image = { name: file, version: req.version ?? verdict.header.version };
  await o.state.save(o.mac, state);
  return DONE;
}
