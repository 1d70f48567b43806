/**
 * `storm --report FILE.html`: one self-contained page (Chart.js inlined, no network needed to view it)
 * with the run's table, the boots completed over time per server, and per-phase time boxes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { StormRun } from './result.js';

const require = createRequire(import.meta.url);

/** Chart.js's UMD bundle, inlined into the page. */
function chartJs(): string {
  // The package exports no path to its browser bundle: it sits next to the CommonJS entry.
  const file = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  return readFileSync(file, 'utf8').replace(/<\/script/gi, '<\\/script');
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
/** JSON safe inside a <script> element. */
const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function quantile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function renderReport(runs: readonly StormRun[], title: string, command: string): string {
  const rows = runs
    .map(
      (r) =>
        `<tr><td>${esc(r.server)}</td><td>${r.phones}</td><td>${r.booted}</td><td>${r.failed}</td><td>` +
        `${r.wallSeconds.toFixed(2)}</td>` +
        (`<td>${r.bootSeconds.p50.toFixed(2)}</td><td>${r.bootSeconds.p95.toFixed(2)}</td><td>` +
          `${r.bootSeconds.p99.toFixed(2)}</td><td>${r.bootSeconds.max.toFixed(2)}</td>`) +
        (`<td>${(r.bytes / 1024 ** 2).toFixed(1)}</td><td>` +
          `${(r.goodputBytesPerSecond / 1024 ** 2).toFixed(1)}</td><td>${r.retransmits}</td>`) +
        (`<td>${r.serverCpuSeconds?.toFixed(2) ?? '–'}</td><td>${r.simulatorCpuSeconds.toFixed(2)}` +
          `</td><td>${r.serverPeakRssBytes ? (r.serverPeakRssBytes / 1024 ** 2).toFixed(0) : '–'}</td></tr>`),
    )
    .join('\n');
  const failures = runs
    .filter((r) => r.failed > 0)
    .map(
      (r) =>
        `<li>${esc(r.server)}: ${Object.entries(r.failures)
          .map(([why, n]) => `${n} × ${esc(why)}`)
          .join('; ')}</li>`,
    )
    .join('');
  // Boots completed over time: one step line per server.
  const timeline = runs.map((r) => ({
    label: r.server,
    data: [...r.bootTimes].sort((a, b) => a - b).map((t, i) => ({ x: Number(t.toFixed(3)), y: i + 1 })),
  }));
  // Per phase and server: [min, max] whiskers, [p25, p75] box, p50 mark.
  const phases = [...new Set(runs.flatMap((r) => Object.keys(r.phaseSeconds)))];
  const boxes = runs.map((r) => {
    const q = phases.map((p) => [...(r.phaseSeconds[p] ?? [])].sort((a, b) => a - b));
    return {
      server: r.server,
      whisker: q.map((s) => (s.length ? [s[0], s[s.length - 1]] : null)),
      box: q.map((s) => (s.length ? [quantile(s, 0.25), quantile(s, 0.75)] : null)),
      median: q.map((s) => (s.length ? quantile(s, 0.5) : null)),
    };
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
code{background:#f4f4f4;padding:2px 4px}.chart{height:380px;margin:2em 0}</style>
<script>${chartJs()}</script></head>
<body><h1>${esc(title)}</h1>
<p>Command: <code>${esc(command)}</code><br>Generated ${esc(new Date().toISOString())}.</p>
<table><thead><tr><th>server</th><th>phones</th><th>booted</th><th>failed</th><th>wall s</th><th>boot p50 s</th>
<th>p95</th><th>p99</th><th>max</th><th>MiB</th><th>goodput MiB/s</th><th>retransmits</th><th>server CPU s</th>
<th>simulator CPU s</th><th>server peak RSS MiB</th></tr></thead>
<tbody>${rows}</tbody></table>
${failures ? `<h2>Failures</h2><ul>${failures}</ul>` : ''}
<h2>Boots completed over time</h2><div class="chart"><canvas id="timeline"></canvas></div>
<h2>Time per phase (box: p25–p75, bar: min–max, dot: median)</h2><div class="chart"><canvas id="phases"></canvas></div>
<script>
const timeline = ${json(timeline)};
const phases = ${json(phases)};
const boxes = ${json(boxes)};
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
new Chart(document.getElementById('timeline'), {
  type: 'line',
  data: {
    datasets: timeline.map((t, i) => ({
      label: t.label, data: t.data, stepped: true, pointRadius: 0, borderColor: palette[i % palette.length],
    })),
  },
  options: {
    maintainAspectRatio: false,
    parsing: false,
    scales: {
      x: { type: 'linear', title: { display: true, text: 'seconds since the power came back' } },
      y: { title: { display: true, text: 'phones booted' } },
    },
  },
});
new Chart(document.getElementById('phases'), {
  type: 'bar',
  data: {
    labels: phases,
    datasets: boxes.flatMap((b, i) => [
      {
        label: b.server + ' min–max', data: b.whisker, backgroundColor: palette[i % palette.length] + '33',
        barPercentage: 0.15, grouped: true, stack: b.server,
      },
      {
        label: b.server + ' p25–p75', data: b.box, backgroundColor: palette[i % palette.length] + 'aa',
        barPercentage: 0.6, stack: b.server + '-box',
      },
      {
        type: 'scatter', label: b.server + ' median', backgroundColor: '#000', pointRadius: 3,
        data: b.median.map((m, k) => m === null ? null : { x: phases[k], y: m }),
      },
    ]),
  },
  options: { maintainAspectRatio: false, scales: { y: { title: { display: true, text: 'seconds' } } } },
});
</script></body></html>
`;
}
