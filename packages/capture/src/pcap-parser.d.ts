// Types for the pcap-parser package (0.2.1), which ships none: what src/capture/pcap.ts uses.
declare module 'pcap-parser' {
  import type { EventEmitter } from 'node:events';

  namespace pcapParser {
    interface PcapGlobalHeader {
      magicNumber: number;
      majorVersion: number;
      minorVersion: number;
      gmtOffset: number;
      timestampAccuracy: number;
      snapshotLength: number;
      linkLayerType: number;
    }
    interface PcapPacketHeader {
      timestampSeconds: number;
      timestampMicroseconds: number;
      capturedLength: number;
      originalLength: number;
    }
    interface PcapPacket {
      header: PcapPacketHeader;
      data: Buffer;
    }
    /** What the parser needs of its input: it pauses it, listens, and resumes it on the next tick. */
    interface PcapSource {
      pause(): unknown;
      resume(): unknown;
      on(event: 'data' | 'end' | 'error', listener: (arg?: Buffer | Error) => void): unknown;
    }
    interface PcapParser extends EventEmitter {
      on(event: 'globalHeader', listener: (header: PcapGlobalHeader) => void): this;
      on(event: 'packetHeader', listener: (header: PcapPacketHeader) => void): this;
      on(event: 'packetData', listener: (data: Buffer) => void): this;
      on(event: 'packet', listener: (packet: PcapPacket) => void): this;
      on(event: 'end', listener: () => void): this;
      on(event: 'error', listener: (error: Error) => void): this;
    }
    /** A file path (read with fs.createReadStream) or a readable stream. */
    function parse(input: string | PcapSource): PcapParser;
  }
  export = pcapParser;
}
