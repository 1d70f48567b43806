/**
 * Content-Type by file extension: the few kinds a provisioning root holds. Phones ignore the type of
 * what they fetch, but browsers and curl users see it, and text must not be offered as a download.
 */
import path from 'node:path';

const TYPES: Record<string, string> = {
  // Avaya upgrade scripts and settings, 1200-series and AudioCodes configuration: plain text.
  '.txt': 'text/plain; charset=utf-8',
  '.scr': 'text/plain; charset=utf-8',
  '.cfg': 'text/plain; charset=utf-8',
  '.ini': 'text/plain; charset=utf-8',
  '.inf': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.xml': 'application/xml',
  '.json': 'application/json',
  '.htm': 'text/html; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  // Certificates some phones fetch as trust anchors.
  '.pem': 'application/x-pem-file',
  '.crt': 'application/x-x509-ca-cert',
  '.cer': 'application/pkix-cert',
  // Firmware and archives.
  '.bin': 'application/octet-stream',
  '.img': 'application/octet-stream',
  '.tar': 'application/octet-stream',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.zip': 'application/zip',
};

/** The type for `fileName` (any path), `application/octet-stream` when the extension is unknown. */
export function contentTypeFor(fileName: string): string {
  return TYPES[path.extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}
