/**
 * What a simulated phone remembers across boots: the image it runs (name and version) and its last
 * address. `--state DIR` keeps one small JSON file per MAC; a storm keeps them in memory.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface PhoneState {
  image?: { name: string; version?: string };
  address?: string;
  /** The last backup a server acknowledged (BRURI): which file, its digest, the how-many-th. */
  backup?: { file: string; sha256: string; bytes: number; seq: number };
}

export interface PhoneStateStore {
  load(mac: string): Promise<PhoneState>;
  save(mac: string, state: PhoneState): Promise<void>;
}

export class MemoryStateStore implements PhoneStateStore {
  private readonly states = new Map<string, PhoneState>();
  async load(mac: string): Promise<PhoneState> {
    return structuredClone(this.states.get(mac) ?? {});
  }
  async save(mac: string, state: PhoneState): Promise<void> {
    this.states.set(mac, structuredClone(state));
  }
}

export class DirStateStore implements PhoneStateStore {
  constructor(readonly dir: string) {}
  private file(mac: string): string {
    return path.join(this.dir, `${mac.toLowerCase().replace(/[^0-9a-f]/g, '')}.json`);
  }
  async load(mac: string): Promise<PhoneState> {
    let text: string;
    try {
      text = await readFile(this.file(mac), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw e;
    }
    try {
      const v = JSON.parse(text) as PhoneState;
      return typeof v === 'object' && v !== null ? v : {};
    } catch {
      throw new Error(`${this.file(mac)} is not a phone state file (not JSON): remove it to start the phone afresh`);
    }
  }
  /** Written to a temporary name and renamed: a crash never leaves a half-written state. */
  async save(mac: string, state: PhoneState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const f = this.file(mac);
    const tmp = `${f}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
    await rename(tmp, f);
  }
}
