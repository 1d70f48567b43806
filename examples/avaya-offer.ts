/**
 * An Avaya OFFER built with typed options 242 (the site-specific list) and 43 (vendor-specific, the
 * Avaya form), then read back: what a DHCP server embedding @bootwire/dhcp does for a 96xx phone.
 *
 *   node avaya-offer.js
 */
import assert from 'node:assert/strict';
import { avaya43, avayaList, buildDhcp, decodeDhcp, encodeOption, MessageType } from '@bootwire/dhcp';

const { bytes } = buildDhcp({
  op: 2,
  xid: 0x1234abcd,
  yiaddr: '10.77.0.100',
  chaddr: '00:04:0d:aa:bb:01',
  options: [
    encodeOption('dhcp-message-type', MessageType.OFFER),
    encodeOption('server-identifier', '10.77.0.1'),
    encodeOption('lease-time', 3600),
    encodeOption(242, avayaList({ MCIPADD: ['10.77.0.5', '10.77.0.6'], MCPORT: '1719', HTTPSRVR: '10.77.0.1' })),
    encodeOption(43, avaya43({ HTTPSRVR: '10.77.0.1', L2QVLAN: '20' })),
  ],
});

const r = decodeDhcp(bytes);
if (!r.ok) throw new Error(`the OFFER does not decode: ${r.error.message}`);
const o = r.message.options;
const list = o.get(242); // typed: AvayaList
assert.ok(list);
assert.deepEqual(
  list.pairs.map(([k]) => k),
  ['MCIPADD', 'MCPORT', 'HTTPSRVR'],
);
assert.deepEqual(o.get('avaya-242'), list); // the same option, by name
const vendor = o.get(43); // typed: Option43
assert.ok(vendor);
console.log(`OFFER of ${r.message.yiaddr} to ${r.message.mac}, ${bytes.length} bytes`);
console.log(`option 242: ${list.pairs.map(([k, v]) => `${k}=${v}`).join(',')}`);
console.log(`option 43 (${vendor.form}): ${vendor.text}`);
