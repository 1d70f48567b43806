/**
 * Real DHCP payloads from the public captures: every one decodes (ok, perhaps with warnings) and
 * re-encodes byte for byte. A tiny classic-pcap reader of its own keeps this independent of the capture
 * module being written elsewhere: Ethernet (with 802.1Q tags), IPv4, UDP to or from port 67/68.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { decodeDhcp, describeDhcp, type DhcpMessage, encodeDhcp } from '../../packages/dhcp/src/codec/index.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/captures/public');

const FILES = [
  'zeek__zeek__dhcp.pcap',
  'zeek__zeek__dhcp_ack_subscriber_id_and_agent_remote_id.pcap',
  'zeek__zeek__dhcp_time_and_nameserver.pcap',
  'the-tcpdump-group__tcpdump__dhcp-rfc3004.pcap',
  'the-tcpdump-group__tcpdump__dhcp-rfc5859.pcap',
  'the-tcpdump-group__tcpdump__dhcpv4v6-rfc5970-rfc8572.pcap',
  'the-tcpdump-group__tcpdump__bootp_asan.pcap',
  'OISF__suricata-verify__dhcp-option-52-overload__input.pcap',
  'OISF__suricata-verify__dhcp-option-52-overload-both__input.pcap',
  'realjimmy__sample-captures__PRIV_bootp-both_overload_empty-no_end.pcap',
  'arkime__arkime__wireshark-dhcp.pcap',
  'seladb__PcapPlusPlus__Dhcp1.pcap',
  'seladb__PcapPlusPlus__Dhcp3.pcap',
  'realjimmy__sample-captures__unistim_phone_startup.pcap',
  'danderson__netboot__dhcp.pcap',
];

/** UDP payloads to or from port 67/68 in a classic pcap file (either byte order, µs or ns). */
function dhcpPayloads(file: string): Buffer[] {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const magicLE = b.readUInt32LE(0);
  const le = magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d;
  const magicBE = b.readUInt32BE(0);
  if (!le && magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) return []; // pcapng or other
  const u32 = (at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  if ((u32(20) & 0xffff) !== 1) return []; // Ethernet only (the upper bits may carry FCS information)
  const out: Buffer[] = [];
  for (let at = 24; at + 16 <= b.length;) {
    const frame = b.subarray(at + 16, Math.min(at + 16 + u32(at + 8), b.length));
    at += 16 + u32(at + 8);
    let e = 12;
    while (frame.length >= e + 2 && frame.readUInt16BE(e) === 0x8100) e += 4;
    if (frame.length < e + 2 || frame.readUInt16BE(e) !== 0x0800) continue;
    const ip = frame.subarray(e + 2);
    if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    if ((ip.readUInt16BE(6) & 0x3fff) !== 0) continue; // fragments
    const udp = ip.subarray((ip[0]! & 15) * 4, Math.min(ip.readUInt16BE(2), ip.length));
    if (udp.length < 8) continue;
    const ports = [udp.readUInt16BE(0), udp.readUInt16BE(2)];
    if (!ports.some((p) => p === 67 || p === 68)) continue;
    out.push(udp.subarray(8, Math.max(8, Math.min(udp.readUInt16BE(4), udp.length))));
  }
  return out;
}

/** Every payload of a file, decoded; a file that is absent gives nothing (and is skipped). */
function messages(name: string): DhcpMessage[] {
  const file = path.join(DIR, name);
  if (!existsSync(file)) return [];
  return dhcpPayloads(file).flatMap((p) => {
    const r = decodeDhcp(p);
    return r.ok ? [r.message] : [];
  });
}

describe('real captures', () => {
  const present = FILES.filter((f) => existsSync(path.join(DIR, f)));

  it.skipIf(present.length === 0)('finds the capture directory', () => {
    expect(present.length).toBeGreaterThan(5);
  });

  for (const name of FILES) {
    it.skipIf(!present.includes(name))(`${name}: every DHCP payload decodes and re-encodes byte for byte`, () => {
      const payloads = dhcpPayloads(path.join(DIR, name));
      // bootp_asan.pcap is a fuzzer's file whose one frame is too mangled to reach UDP: it must only not throw.
      if (!name.includes('bootp_asan')) expect(payloads.length).toBeGreaterThan(0);
      for (const p of payloads) {
        const r = decodeDhcp(p);
        if (!r.ok) {
          // Only a datagram too short for BOOTP may fail (bootp_asan.pcap is a fuzzer's 88-byte one).
          expect(r.error.kind).toBe('truncated');
          continue;
        }
        expect(encodeDhcp(r.message).equals(p), describeDhcp(r.message)).toBe(true);
        for (const c of r.message.options.codes()) r.message.options.decode(c);
      }
    });
  }

  it.skipIf(!present.includes('zeek__zeek__dhcp.pcap'))(
    'zeek: a whole DHCP conversation, message types and helpers',
    () => {
      const ms = messages('zeek__zeek__dhcp.pcap');
      expect(ms.map((m) => m.options.messageType())).toEqual([1, 2, 3, 6, 3, 5, 4, 7, 8]);
      const offer = ms[1]!;
      expect(offer.mac).toBe('90:b1:1c:99:49:29');
      expect(offer.yiaddr).toBe('128.2.6.97');
      expect(offer.options.vendorClass()).toBe('ArubaAP');
      expect(offer.options.decode(43)!.value).toMatchObject({ form: 'raw', text: '"172.18.6.37"' });
      expect(ms[3]!.options.decode(56)!.value).toBe('requested address not available');
    },
  );

  it.skipIf(!present.includes('the-tcpdump-group__tcpdump__dhcp-rfc3004.pcap'))(
    'tcpdump: RFC 3004 user classes',
    () => {
      const discover = messages('the-tcpdump-group__tcpdump__dhcp-rfc3004.pcap')[0]!;
      expect(discover.options.userClasses()).toEqual(['subopt1', 'subopt2-123456789', 'subopt3-12']);
    },
  );

  it.skipIf(!present.includes('the-tcpdump-group__tcpdump__dhcp-rfc5859.pcap'))(
    'tcpdump: option 150 TFTP server addresses',
    () => {
      const offer = messages('the-tcpdump-group__tcpdump__dhcp-rfc5859.pcap')[1]!;
      expect(offer.options.decode(150)!.value).toEqual(['192.168.1.10', '192.168.1.11']);
    },
  );

  it.skipIf(!present.includes('OISF__suricata-verify__dhcp-option-52-overload-both__input.pcap'))(
    'suricata: option 56 concatenated across the options field, file and sname',
    () => {
      const m = messages('OISF__suricata-verify__dhcp-option-52-overload-both__input.pcap')[0]!;
      expect(m.options.overload()).toBe(3);
      expect(m.options.instances(56).map((i) => i.area)).toEqual(['options', 'file', 'sname']);
      expect(m.options.decode(56)!.value).toBe('Paddingfile name field overloadsname field overload');
    },
  );

  it.skipIf(!present.includes('realjimmy__sample-captures__PRIV_bootp-both_overload_empty-no_end.pcap'))(
    'wireshark sample: overloaded fields that are empty and lack End give warnings',
    () => {
      const p = dhcpPayloads(
        path.join(DIR, 'realjimmy__sample-captures__PRIV_bootp-both_overload_empty-no_end.pcap'),
      )[0]!;
      const r = decodeDhcp(p);
      expect(r.ok && r.issues.map((i) => i.kind)).toEqual(['missing-end', 'missing-end', 'missing-end']);
    },
  );

  it.skipIf(!present.includes('seladb__PcapPlusPlus__Dhcp1.pcap'))(
    'PcapPlusPlus: relay agent circuit id, SIP server, client id',
    () => {
      const m = messages('seladb__PcapPlusPlus__Dhcp1.pcap')[0]!;
      expect(m.giaddr).toBe('10.10.8.240');
      expect(m.options.relayAgent()!.circuitId!.toString('latin1')).toContain('PON 1/1/07/01:1.0.1');
      expect(m.options.decode(120)!.value).toEqual({ encoding: 'addresses', servers: ['172.22.178.234'] });
      expect(m.options.decode(61)!.text).toBe('type 0 "nathan1clientid"');
    },
  );

  it.skipIf(!present.includes('seladb__PcapPlusPlus__Dhcp3.pcap'))(
    'PcapPlusPlus: option 125 (TR-111 device identity)',
    () => {
      const m = messages('seladb__PcapPlusPlus__Dhcp3.pcap')[0]!;
      expect(m.options.decode(125)!.text).toBe('3561: 4="002682" 5="WECO10KH05005695" 6="VDSL2CPE"');
    },
  );

  it.skipIf(!present.includes('zeek__zeek__dhcp_ack_subscriber_id_and_agent_remote_id.pcap'))(
    'zeek: option 82 with subscriber id',
    () => {
      const ra = messages('zeek__zeek__dhcp_ack_subscriber_id_and_agent_remote_id.pcap')[0]!.options.relayAgent()!;
      expect(ra.subOptions.map((s) => s.code)).toEqual([1, 2, 6]);
      expect(ra.circuitId!.toString()).toBe('this is only a test...');
      expect(ra.subOptions[2]!.value.toString()).toBe('-subID-');
    },
  );

  it.skipIf(!present.includes('danderson__netboot__dhcp.pcap'))('netboot: PXE DISCOVER and proxy OFFER', () => {
    const [discover, proxyOffer] = messages('danderson__netboot__dhcp.pcap');
    expect(discover!.options.vendorClass()).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(discover!.options.decode(93)!.text).toBe('0 (x86 BIOS)');
    expect(discover!.options.decode(94)!.text).toBe('UNDI 2.1');
    expect(discover!.options.decode(97)!.value).toMatchObject({ guid: '00020003-0004-0005-0006-000700080009' });
    const pxe = proxyOffer!.options.decode(43)!.value as { form: string; subOptions: Array<{ name?: string }> };
    expect(pxe.form).toBe('pxe');
    expect(pxe.subOptions.map((s) => s.name)).toEqual([
      'PXE_DISCOVERY_CONTROL',
      'PXE_BOOT_SERVERS',
      'PXE_BOOT_MENU',
      'PXE_MENU_PROMPT',
    ]);
  });
});
