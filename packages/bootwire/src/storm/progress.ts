/**
 * The storm's live display: one bar of phones booted, with how many are in each phase, on stderr when it
 * is a terminal (cli-progress); a plain line every few seconds otherwise (CI logs).
 */
import cliProgress from 'cli-progress';
import type { PhoneStage } from './simulator.js';

export interface Progress {
  update(counts: Record<PhoneStage, number>): void;
  stop(): void;
}

const line = (c: Record<PhoneStage, number>) =>
  `dhcp ${c.dhcp} | script ${c.script} | image ${c.image} | settings ${c.settings}` +
  `${c.restore + c.backup > 0 ? ` | restore ${c.restore} | backup ${c.backup}` : ''} | done ` +
  `${c.done} | failed ${c.failed}`;

export function createProgress(label: string, total: number, enabled: boolean): Progress {
  if (!enabled) return { update() {}, stop() {} };
  if (!process.stderr.isTTY) {
    let last = 0;
    let finished = false;
    const started = Date.now();
    return {
      update(c) {
        const complete = c.done + c.failed >= total;
        if (finished || (Date.now() - last < 5000 && !complete)) return;
        finished = complete;
        last = Date.now();
        process.stderr.write(
          `storm ${label}: ${((Date.now() - started) / 1000).toFixed(1)} s  waiting ${c.waiting} | ${line(c)}\n`,
        );
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} booted | {phases} | {duration}s`,
      hideCursor: true,
      stream: process.stderr,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { phases: '' });
  return {
    update(c) {
      bar.update(c.done, { phases: line(c) });
    },
    stop() {
      bar.stop();
    },
  };
}
