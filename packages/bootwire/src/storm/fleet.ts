/**
 * The fleet a storm boots: how many phones of each model (`--mix 4610=30%,9608=30%,…`) and their MACs.
 * Pure: the same flags give the same fleet, so runs against different servers boot identical phones.
 */
import { findModel, type PhoneModel } from '../phones/models.js';

export const DEFAULT_MIX = '4610=30%,1608=10%,9608=30%,1230=10%,440HD=20%';

export interface MixEntry {
  model: PhoneModel;
  /** Fraction of the fleet, 0..1; the entries sum to 1. */
  share: number;
}

export interface FleetPhone {
  /** 0-based position in the fleet (also the order phones are started in). */
  index: number;
  model: string;
  mac: string;
}

export class MixError extends Error {}

/** `4610=30%,9608=70%` (or weights: `4610=3,9608=7`) into shares that sum to 1. */
export function parseMix(text: string): MixEntry[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new MixError('--mix is empty: give MODEL=SHARE,… such as 4610=30%,9608=70%');
  const raw: { model: PhoneModel; weight: number }[] = [];
  for (const p of parts) {
    const m = /^([^=]+)=\s*([0-9.]+)\s*(%?)$/.exec(p);
    if (!m) throw new MixError(`--mix: ${JSON.stringify(p)} is not MODEL=SHARE (such as 9608=30%)`);
    const model = findModel(m[1]!.trim());
    if (!model) throw new MixError(`--mix: unknown model ${JSON.stringify(m[1]!.trim())}`);
    if (raw.some((r) => r.model.name === model.name)) throw new MixError(`--mix: ${model.name} is given twice`);
    const weight = Number(m[2]);
    if (!Number.isFinite(weight) || weight < 0) throw new MixError(`--mix: bad share in ${JSON.stringify(p)}`);
    raw.push({ model, weight });
  }
  // All percentages or all weights: `4610=50%,9608=5` is a typo, not 50:5.
  const percent = parts.every((p) => p.endsWith('%'));
  if (!percent && parts.some((p) => p.endsWith('%')))
    throw new MixError(
      '--mix: give every share as a percentage (4610=30%,9608=70%) or every one as a weight (4610=3,9608=7), not both',
    );
  const total = raw.reduce((n, r) => n + r.weight, 0);
  if (total <= 0) throw new MixError('--mix: the shares add up to nothing');
  if (percent && Math.abs(total - 100) > 0.01)
    throw new MixError(`--mix: the percentages add up to ${total}%, not 100%`);
  return raw.filter((r) => r.weight > 0).map((r) => ({ model: r.model, share: r.weight / total }));
}

/** Per-model counts for `n` phones: largest remainders, so they add up to n exactly. */
export function modelCounts(n: number, mix: readonly MixEntry[]): Map<string, number> {
  const exact = mix.map((e) => ({ name: e.model.name, exact: e.share * n }));
  const counts = exact.map((e) => ({ name: e.name, count: Math.floor(e.exact), rest: e.exact - Math.floor(e.exact) }));
  let left = n - counts.reduce((s, c) => s + c.count, 0);
  for (const c of [...counts].sort((a, b) => b.rest - a.rest)) {
    if (left-- <= 0) break;
    c.count++;
  }
  return new Map(counts.map((c) => [c.name, c.count]));
}

/** Organisationally unique identifiers of the vendors' phones. */
const OUI: Record<PhoneModel['vendor'], string> = { Avaya: '00:04:0d', AudioCodes: '00:90:8f' };

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/**
 * The phones, models interleaved in proportion (as on a real floor, where every kind reboots at once),
 * MACs from each vendor's OUI with the phone's index in the low 24 bits (`salt` shifts them, so two
 * storms against one DHCP server do not share leases).
 */
export function buildFleet(n: number, mix: readonly MixEntry[], salt = 0): FleetPhone[] {
  if (!Number.isInteger(n) || n < 1) throw new MixError(`--phones must be a positive integer, got ${n}`);
  if (n > 0xffffff) throw new MixError('--phones: at most 16,777,215 phones');
  const counts = modelCounts(n, mix);
  const byName = new Map(mix.map((e) => [e.model.name, e.model]));
  const placed = new Map([...counts.keys()].map((k) => [k, 0]));
  const fleet: FleetPhone[] = [];
  for (let i = 0; i < n; i++) {
    // The model furthest behind its share so far goes next.
    let best: string | undefined;
    let lag = -Infinity;
    for (const [name, count] of counts) {
      const have = placed.get(name)!;
      if (have >= count) continue;
      const l = (count * (i + 1)) / n - have;
      if (l > lag) [best, lag] = [name, l];
    }
    placed.set(best!, placed.get(best!)! + 1);
    const id = (i + salt) & 0xffffff;
    const mac = `${OUI[byName.get(best!)!.vendor]}:${hex2(id >> 16)}:${hex2((id >> 8) & 0xff)}:${hex2(id & 0xff)}`;
    fleet.push({ index: i, model: best!, mac });
  }
  return fleet;
}
