/**
 * A TFTP server whose resolver computes each phone's settings file from its MAC: a phone asking for
 * `SIP00040DAABB01.cfg` gets a file written for it, no file on disk. (With bootwire's DHCP server in
 * the same process, `client.phone` also carries the MAC and model leased to the asking address.)
 *
 *   node tftp-settings-per-phone.js
 */
import type { Resolver } from '@bootwire/core';
import { TftpServer, tftpGetBuffer } from '@bootwire/tftp';

const settings: Resolver = (request, client) => {
  const m = /^SIP([0-9a-f]{12})\.cfg$/i.exec(request.name);
  if (!m) return { kind: 'refusal', reason: 'not-found' };
  const mac = m[1]!.toLowerCase().replace(/(..)(?!$)/g, '$1:');
  const text = [
    `SET MAC ${mac}`,
    `SET SIPUSERNAME ${mac.replaceAll(':', '')}`,
    `SET SIP_CONTROLLER_LIST 10.77.0.5:5060`,
    `# for ${client.address}`,
    '',
  ].join('\n');
  return { kind: 'bytes', bytes: Buffer.from(text) };
};

const server = await TftpServer.start({ host: '127.0.0.1', port: 0, resolver: settings, workers: 0 });
try {
  const { data } = await tftpGetBuffer({
    host: '127.0.0.1',
    port: server.address().port,
    filename: 'SIP00040DAABB01.cfg',
  });
  process.stdout.write(data.toString());
  const missing = await tftpGetBuffer({ host: '127.0.0.1', port: server.address().port, filename: 'other.txt' }).catch(
    (e: Error) => e,
  );
  console.log(`other.txt: ${missing instanceof Error ? missing.message : 'served?!'}`);
} finally {
  await server.close();
}
