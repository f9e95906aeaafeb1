import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { esc } from './_internals/html.ts';
import { num, readReport } from './read-report.ts';
import { fullTestTitle } from './rows.ts';

export const TREND_FILE = 'trend.html';

/** One recorded run as the trend page sees it. */
export interface TrendRun {
  runId: string;
  dir: string;
  started: string;
  rig: string;
  fault: string | null;
  /** Verdict per test (full title). */
  verdicts: Map<string, string>;
  /** p99 per device and measure, with the run's limit for it when the rig set one. */
  p99: Array<{ device: string; measure: 'edge_to_callback' | 'processing'; value: number; limit?: number }>;
  /** Property tests: runs made within the budget, as their notes say (`N of M run(s)`). */
  propertyRuns: Map<string, { done: number; asked: number }>;
}

const FIRMWARE = new Set(['FAIL', 'HUNG']);
const BENCH = new Set(['ERROR']);

function p99(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil(0.99 * v.length) - 1)];
}

/** Read one run folder; undefined when it is not a run (no summary.csv). */
export function readTrendRun(dir: string): TrendRun | undefined {
  if (!fs.existsSync(path.join(dir, 'summary.csv'))) return undefined;
  const files = readReport(dir);
  let meta: { runId?: string; started?: string; rig?: string; fault?: string | null } = {};
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as typeof meta;
  } catch {
    // a run without run.json still has its CSVs
  }
  const verdicts = new Map<string, string>();
  const propertyRuns = new Map<string, { done: number; asked: number }>();
  for (const r of files.summary) {
    const t = fullTestTitle(r);
    verdicts.set(t, r.outcome);
    const m = /(\d+) of (\d+) run\(s\)/.exec(r.notes);
    if (m) propertyRuns.set(t, { done: Number(m[1]), asked: Number(m[2]) });
  }
  const out: TrendRun['p99'] = [];
  const devices = [...new Set(files.events.map((e) => e.device))].sort();
  for (const device of devices) {
    const evs = files.events.filter((e) => e.device === device);
    for (const [measure, cell] of [['edge_to_callback', 'cb_latency_us'], ['processing', 'proc_ms']] as const) {
      const value = p99(evs.map((e) => num(e[cell])).filter((x): x is number => x !== undefined));
      if (value === undefined) continue;
      const lim = files.latency.filter((l) => l.scope === 'run' && l.device === device && l.measure === measure).sort((a, b) => Number(b.percentile) - Number(a.percentile))[0];
      out.push({ device, measure, value, ...(lim ? { limit: Number(lim.limit) } : {}) });
    }
  }
  return { runId: meta.runId ?? path.basename(dir), dir, started: meta.started ?? '', rig: meta.rig ?? files.summary[0]?.rig ?? '', fault: meta.fault ?? null, verdicts, p99: out, propertyRuns };
}

/** The runs under `root` (each a folder with summary.csv), oldest first. */
export function readTrendRuns(root: string): TrendRun[] {
  const runs = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => readTrendRun(path.join(root, d.name)))
    .filter((r): r is TrendRun => r !== undefined);
  return runs.sort((a, b) => (a.started || a.runId).localeCompare(b.started || b.runId));
}

export interface FlakeRow {
  test: string;
  runs: number;
  pass: number;
  /** FAIL or HUNG: the firmware's. */
  firmware: number;
  /** ERROR: the bench's. */
  bench: number;
  other: number;
  /** Passed in some runs and not in others. */
  flaky: boolean;
}

export function flakeRates(runs: readonly TrendRun[]): FlakeRow[] {
  const tests = [...new Set(runs.flatMap((r) => [...r.verdicts.keys()]))];
  return tests.map((test) => {
    const vs = runs.map((r) => r.verdicts.get(test)).filter((v): v is string => v !== undefined);
    const pass = vs.filter((v) => v === 'PASS').length;
    const firmware = vs.filter((v) => FIRMWARE.has(v)).length;
    const bench = vs.filter((v) => BENCH.has(v)).length;
    return { test, runs: vs.length, pass, firmware, bench, other: vs.length - pass - firmware - bench, flaky: pass > 0 && pass < vs.length };
  });
}

const pct = (n: number, d: number): string => (d === 0 ? '' : `${((100 * n) / d).toFixed(0)} %`);

/** The trend page over `runs` (see {@link renderTrend}). */
export function buildTrendHtml(runs: readonly TrendRun[], title: string): string {
  const flakes = flakeRates(runs).sort((a, b) => b.firmware + b.bench - (a.firmware + a.bench) || Number(b.flaky) - Number(a.flaky));
  let body = `<h1>HIL trend: ${esc(title)}</h1><p class="meta">${runs.length} run${runs.length === 1 ? '' : 's'}${runs.length ? `, ${esc(runs[0]!.runId)} … ${esc(runs[runs.length - 1]!.runId)}` : ''}. FAIL and HUNG are the firmware's; ERROR is the bench's, counted apart.</p>`;
  if (runs.length === 0) return page(title, body + '<p class="empty">No recorded runs here.</p>', '');

  body += '<h2>Flake rate per test</h2><table class="flakes"><thead><tr><th>test</th><th>runs</th><th>pass</th><th>firmware (FAIL/HUNG)</th><th>bench (ERROR)</th><th>other</th><th>flaky</th></tr></thead><tbody>';
  for (const f of flakes) {
    body += `<tr data-test="${esc(f.test)}"><td>${esc(f.test)}</td><td class="n">${f.runs}</td><td class="n">${f.pass}</td><td class="n fw">${f.firmware ? `${f.firmware} (${pct(f.firmware, f.runs)})` : '0'}</td><td class="n bench">${f.bench ? `${f.bench} (${pct(f.bench, f.runs)})` : '0'}</td><td class="n">${f.other}</td><td>${f.flaky ? '<span class="flaky">flaky</span>' : ''}</td></tr>`;
  }
  body += '</tbody></table>';

  body += '<h2>Verdict per test per run</h2><div class="scroll"><table class="grid"><thead><tr><th>test</th>';
  for (const r of runs) body += `<th title="${esc(`${r.rig}${r.fault ? `, fault ${r.fault}` : ''}`)}"><a href="${esc(path.basename(r.dir))}/report.html">${esc(r.runId)}</a></th>`;
  body += '</tr></thead><tbody>';
  for (const f of flakes) {
    body += `<tr><td>${esc(f.test)}</td>`;
    for (const r of runs) {
      const v = r.verdicts.get(f.test);
      body += v ? `<td class="v o-${esc(v)}" title="${esc(v)}">${esc(v)}</td>` : '<td class="v none">–</td>';
    }
    body += '</tr>';
  }
  body += '</tbody></table></div>';

  // p99 per device over the runs, with the limit.
  const series: Array<{ key: string; device: string; measure: string; unit: string; values: Array<number | null>; limits: Array<number | null> }> = [];
  for (const measure of ['edge_to_callback', 'processing'] as const) {
    for (const device of [...new Set(runs.flatMap((r) => r.p99.filter((p) => p.measure === measure).map((p) => p.device)))].sort()) {
      const at = runs.map((r) => r.p99.find((p) => p.device === device && p.measure === measure));
      series.push({ key: `${measure}-${device}`, device, measure, unit: measure === 'processing' ? 'ms' : 'µs', values: at.map((p) => p?.value ?? null), limits: at.map((p) => p?.limit ?? null) });
    }
  }
  body += '<h2>p99 per device over time</h2>';
  if (series.length === 0) body += '<p class="empty">No latency samples in these runs.</p>';
  for (const s of series) {
    body += `<h3>${esc(s.device)}: ${s.measure === 'processing' ? 'processing (put → done)' : 'edge → callback done'} p99, ${esc(s.unit)}</h3><table class="p99" data-series="${esc(s.key)}"><tr><th>run</th>${runs.map((r) => `<td>${esc(r.runId)}</td>`).join('')}</tr><tr><th>p99</th>${s.values.map((v, k) => `<td class="n${v !== null && s.limits[k] !== null && v > s.limits[k]! ? ' over' : ''}">${v === null ? '' : esc(+v.toFixed(3))}</td>`).join('')}</tr><tr><th>limit</th>${s.limits.map((v) => `<td class="n">${v === null ? '' : esc(v)}</td>`).join('')}</tr></table><div class="chart" data-series="${esc(s.key)}"></div>`;
  }

  // Property runs made within their budget.
  const props = [...new Set(runs.flatMap((r) => [...r.propertyRuns.keys()]))];
  body += '<h2>Property runs made within budget</h2>';
  if (props.length === 0) body += '<p class="empty">No property test noted its run count.</p>';
  else {
    body += `<table class="props"><thead><tr><th>test</th>${runs.map((r) => `<th>${esc(r.runId)}</th>`).join('')}</tr></thead><tbody>`;
    for (const t of props) {
      body += `<tr data-test="${esc(t)}"><td>${esc(t)}</td>${runs
        .map((r) => {
          const p = r.propertyRuns.get(t);
          return p ? `<td class="n${p.done < p.asked ? ' short' : ''}">${p.done} of ${p.asked}</td>` : '<td></td>';
        })
        .join('')}</tr>`;
    }
    body += '</tbody></table>';
  }
  const data = { runs: runs.map((r) => r.runId), series };
  return page(title, body, `<script type="application/json" id="trend-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>${charts()}`);
}

function charts(): string {
  const require = createRequire(import.meta.url);
  const dist = path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');
  const lib = fs.readFileSync(path.join(dist, 'uPlot.iife.min.js'), 'utf8');
  const css = fs.readFileSync(path.join(dist, 'uPlot.min.css'), 'utf8');
  const client = `(function(){var d=JSON.parse(document.getElementById('trend-data').textContent);window.__hilCharts=[];
d.series.forEach(function(s){var el=document.querySelector('.chart[data-series="'+s.key+'"]');if(!el)return;
var xs=d.runs.map(function(_,k){return k;});
var ys=s.values.concat(s.limits).filter(function(v){return v!==null&&v>0;}),lo=Math.min.apply(null,ys.concat([Infinity])),hi=Math.max.apply(null,ys.concat([0]));
// A log scale when one bad run would flatten the others and the limit onto the axis.
var log=ys.length>0&&hi/lo>20;
var u=new uPlot({width:Math.min(1200,Math.max(480,el.parentNode.clientWidth-8)),height:220,legend:{live:false},
scales:{x:{time:false,range:function(){return [-0.4,d.runs.length-0.6];}},y:log?{distr:3,log:10,range:function(){return [Math.pow(10,Math.floor(Math.log10(lo))),Math.pow(10,Math.ceil(Math.log10(hi)))];}}:{range:function(u,mn,mx){return [0,Math.max(mx||1,1)*1.1];}}},
axes:[{values:function(u,sp){return sp.map(function(k){return d.runs[k]||'';});},splits:function(){return xs;}},{label:s.unit,size:60}],
series:[{},{label:'p99 '+s.device,stroke:'#0969da',width:2,spanGaps:true,points:{show:true,size:7}},{label:'limit',stroke:'#cf222e',dash:[6,4],spanGaps:true,points:{show:false}}]},
[xs,s.values,s.limits],el);window.__hilCharts.push({key:s.key,log:log,points:s.values.filter(function(v){return v!==null;}).length});});})();`;
  return `<style>${css}</style><script>${lib}</script><script>${client}</script>`;
}

function page(title: string, body: string, tail: string): string {
  const css = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328;max-width:1400px}h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #d0d7de}h3{font-size:14px}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left}th{background:#f6f8fa}td.n{text-align:right}.meta,.empty{color:#57606a}.scroll{overflow-x:auto}
td.v{font-weight:600;color:#fff;text-align:center}.o-PASS{background:#1a7f37}.o-FAIL{background:#cf222e}.o-HUNG{background:#8250df}.o-ERROR{background:#bc4c00}.o-TIMEOUT{background:#9a6700}.o-ABORTED{background:#6e7781}td.none{color:#8c959f}
.flaky{color:#fff;background:#9a6700;border-radius:3px;padding:0 5px}td.over,td.short{color:#cf222e;font-weight:600}`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HIL trend ${esc(title)}</title><style>${css}</style></head><body>${body}${tail}</body></html>\n`;
}

/** Write `trend.html` over the runs under `root` (default file: `<root>/trend.html`); returns its path. */
export function renderTrend(root: string, file = path.join(root, TREND_FILE)): string {
  const html = buildTrendHtml(readTrendRuns(root), path.basename(path.resolve(root)));
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, html);
  fs.renameSync(tmp, file);
  return file;
}
