import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { esc } from './_internals/html.ts';
import { OBSERVATIONS_FILE } from './observations-jsonl.ts';
import { num, type ReportFiles } from './read-report.ts';
import { fullTestTitle } from './rows.ts';

/**
 * The interactive parts of report.html: a drill-down per test that did not pass (the violation in
 * words, its timeline with every mark and zoom, both consoles around it, its own latency histogram
 * with the limit), and queue depth per device from every depth sample. Drawn in the browser by
 * uPlot, inlined into the page with its data, so the page still works offline as one file.
 */

/** Lanes of the drill-down timeline, top to bottom. */
export const MARK_LANES = ['relay on', 'relay off', 'edge', 'callback', 'queued', 'taken', 'done', 'refused', 'power', 'reboot', 'violation'] as const;
export type MarkLane = (typeof MARK_LANES)[number];

/** One console line near a failure. */
export interface ExcerptLine {
  hostMs: number;
  device: string;
  devUs?: number;
  text: string;
}

export interface Drilldown {
  id: string;
  test: string;
  outcome: string;
  /**
   * The verdict's own reason first, then the rest in the order they were found. `from`–`to` is the
   * host span of its evidence: the observation it rests on, the press or request it names (relay
   * on/off and every mark of it) and the time it was judged (a deadline is judged well after the
   * press it counts from).
   */
  violations: Array<{ invariant: string; device: string; hostMs?: number; detail: string; pressId?: string; from?: number; to?: number }>;
  /** When the failure was judged: the verdict's violation, else the middle of the test. */
  focusMs?: number;
  /** The host span the drill-down opens on: the evidence of the verdict's violation. */
  window?: [number, number];
  span?: [number, number];
  marks: Record<MarkLane, Array<[number, string]>>;
  /**
   * Device marks events.csv leaves without a host time (the mapping's bound is over 1 ms), placed
   * here by the device clock's offset at the test (see {@link deviceOffset}).
   */
  byDeviceClock: number;
  /** Device marks with no host time and no offset to place them by. */
  unplaced: number;
  excerpt: ExcerptLine[];
  hist?: { what: string; unit: string; values: number[]; limit?: number; limitText?: string };
}

export interface DepthSeries {
  device: string;
  capacity?: number;
  /** [host ms, depth, kind] of every sample. */
  samples: Array<[number, number, string]>;
}

/** What report.html needs from observations.jsonl, read once. */
interface LogFacts {
  windows: Map<string, [number, number]>;
  power: Array<[number, string]>;
  boots: Array<[number, string]>;
  depth: Map<string, DepthSeries>;
  lines: ExcerptLine[];
  devices: Set<string>;
}

/**
 * Where a device's clock sits on the host axis around `at` (ms): the smallest arrival − device time
 * of its lines within `windowMs`, i.e. the line that reached the host fastest. Device times placed
 * with it keep their exact spacing among themselves; against host marks they are late by at most
 * that line's transit time.
 */
function deviceOffset(facts: LogFacts, device: string, from: number, to: number): number | undefined {
  let best: number | undefined;
  for (const l of facts.lines) {
    if (l.device !== device || l.devUs === undefined || l.hostMs < from || l.hostMs > to) continue;
    const o = l.hostMs - l.devUs / 1000;
    if (best === undefined || o < best) best = o;
  }
  return best;
}

/** Larger logs are not read for the page (the CSVs still are); the trace and the timed logs have it all. */
const MAX_LOG_BYTES = 200 * 1024 * 1024;

export function readLogFacts(dir: string): LogFacts | undefined {
  const file = path.join(dir, OBSERVATIONS_FILE);
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_LOG_BYTES) return undefined;
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const facts: LogFacts = { windows: new Map(), power: [], boots: [], depth: new Map(), lines: [], devices: new Set() };
  let startNs: bigint | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let o: { t: string; source: string; kind: string; text?: string; fields?: Record<string, string | number>; tDev?: number };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      continue; // a torn last line of an interrupted run
    }
    const t = BigInt(o.t);
    if (startNs === undefined || (o.source === 'harness' && o.kind === 'run_start')) startNs = t;
    const ms = Number(t - startNs) / 1e6;
    const f = o.fields ?? {};
    if (o.source === 'invariants' && o.kind === 'window_start') facts.windows.set(String(f.name), [ms, ms]);
    else if (o.source === 'invariants' && o.kind === 'window_end') {
      const w = facts.windows.get(String(f.name));
      if (w) w[1] = ms;
    } else if (o.source === 'power' && (o.kind === 'on' || o.kind === 'off')) facts.power.push([ms, `power ${o.kind} ${String(f.device ?? '')}`]);
    else if (o.text !== undefined && !['harness', 'invariants', 'buttons', 'power', 'http'].includes(o.source)) {
      facts.devices.add(o.source);
      facts.lines.push({ hostMs: ms, device: o.source, ...(o.tDev !== undefined ? { devUs: o.tDev } : {}), text: o.text });
      if (o.kind === 'boot') facts.boots.push([ms, `${o.source} boot`]);
      if ((o.kind === 'q_put' || o.kind === 'q_get' || o.kind === 'q_drop') && typeof f.depth === 'number') {
        let d = facts.depth.get(o.source);
        if (!d) facts.depth.set(o.source, (d = { device: o.source, samples: [] }));
        if (typeof f.cap === 'number') d.capacity = f.cap;
        d.samples.push([ms, f.depth, o.kind === 'q_put' ? 'put' : o.kind === 'q_get' ? 'take' : 'refused']);
      }
    }
  }
  return facts;
}

/** A stable id for a test's drill-down anchor. */
export function testAnchor(test: string): string {
  let h = 0;
  for (const ch of test) h = (Math.imul(h, 31) + ch.codePointAt(0)!) | 0;
  return `t-${test.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40)}-${(h >>> 0).toString(36)}`;
}

const EXCERPT_MS = 1500;
const EXCERPT_LINES = 12;
/** Violations listed in a drill-down before the rest are folded away. */
const SHOWN_VIOLATIONS = 5;

/** A test as the page lists it: its summary row, or for a test an interrupted run never finished, what the other files name. */
export interface PageTest {
  test: string;
  scenario: string;
  /** Empty when the test has no summary row. */
  outcome: string;
  /** The summary's `violations` cell: the verdict's reasons, strongest first. */
  violations: string;
}

/**
 * Every test's marks, consoles and histogram (`tests`: default every test of `summary.csv` that did
 * not pass). The run-level pooled row has no timeline: its evidence is the pooled histogram.
 */
export function buildDrilldowns(files: ReportFiles, facts: LogFacts | undefined, tests: readonly PageTest[] = files.summary.filter((r) => r.outcome !== 'PASS').map((r) => ({ test: fullTestTitle(r), scenario: r.scenario, outcome: r.outcome, violations: r.violations }))): Drilldown[] {
  const out: Drilldown[] = [];
  for (const r of tests) {
    const test = r.test;
    // The run-level latency row pools every test: its evidence is the pooled histogram, not a timeline.
    const pooled = r.scenario === 'run';
    const events = pooled ? [] : files.events.filter((e) => fullTestTitle(e) === test);
    const span = facts?.windows.get(test);
    const marks = Object.fromEntries(MARK_LANES.map((l) => [l, [] as Array<[number, string]>])) as Drilldown['marks'];
    /** Every mark of each press or request, by its `press_id`, to span a violation's evidence. */
    const byPress = new Map<string, number[]>();
    let unplaced = 0;
    let byDeviceClock = 0;
    const offsets = new Map<string, number | undefined>();
    const offsetOf = (device: string): number | undefined => {
      if (!offsets.has(device)) offsets.set(device, facts && span ? deviceOffset(facts, device, span[0] - 2000, span[1] + 2000) : undefined);
      return offsets.get(device);
    };
    for (const e of events) {
      const who = `${e.press_id} ${e.button}`;
      const own: number[] = [];
      if (e.press_id !== '') byPress.set(`${e.device}\u0000${e.press_id}`, own);
      const put = (lane: MarkLane, cell: string, devCell?: string) => {
        const x = num(cell);
        const dev = num(devCell);
        const off = dev === undefined ? undefined : offsetOf(e.device);
        if (x !== undefined) {
          marks[lane].push([x, who]);
          own.push(x);
        } else if (dev !== undefined && off !== undefined) {
          marks[lane].push([dev / 1000 + off, `${who} (device clock)`]);
          own.push(dev / 1000 + off);
          byDeviceClock++;
        } else if (dev !== undefined) unplaced++;
      };
      put('relay on', e.host_press_ms);
      put('relay off', e.host_release_ms);
      put('edge', e.host_edge_ms, e.dev_edge_us);
      put('callback', e.host_cb_ms, e.dev_cb_us);
      put('queued', e.host_queued_ms, e.dev_queued_us);
      put('taken', e.host_taken_ms, e.dev_taken_us);
      put('done', e.host_done_ms, e.dev_done_us);
      if (e.outcome === 'dropped') {
        const x = num(e.host_edge_ms) ?? num(e.host_press_ms);
        if (x !== undefined) marks.refused.push([x, who]);
      }
    }
    const found: Drilldown['violations'] = files.violations
      .filter((v) => fullTestTitle(v) === test)
      .map((v) => {
        const hostMs = num(v.host_time_ms);
        const evidence = num(v.evidence_ms);
        const xs = [hostMs, evidence, ...((v.press_id ? byPress.get(`${v.device}\u0000${v.press_id}`) : undefined) ?? [])].filter((x): x is number => x !== undefined);
        return {
          invariant: v.invariant,
          device: v.device,
          ...(hostMs !== undefined ? { hostMs } : {}),
          detail: v.detail,
          ...(v.press_id ? { pressId: v.press_id } : {}),
          ...(xs.length ? { from: Math.min(...xs), to: Math.max(...xs) } : {}),
        };
      });
    // The verdict's reason is the first of the summary row's list; a drill-down opens on it.
    const cause = found.findIndex((v) => r.violations.startsWith(`${v.invariant} on ${v.device}: ${v.detail}`));
    const first = cause >= 0 ? cause : found.reduce((k, v, i) => (v.from !== undefined && (found[k]!.from === undefined || v.from < found[k]!.from) ? i : k), 0);
    const violations = found.length ? [found[first]!, ...found.filter((_, i) => i !== first)] : [];
    const focus = violations[0];
    const window: [number, number] | undefined = focus?.from !== undefined ? [focus.from, focus.to!] : undefined;
    const focusMs = focus?.hostMs ?? window?.[1] ?? (span ? (span[0] + span[1]) / 2 : undefined);
    if (!pooled) {
      const inSpan = (x: number) => !span || (x >= span[0] - 1000 && x <= span[1] + 1000);
      for (const [x, what] of facts?.power ?? []) if (inSpan(x)) marks.power.push([x, what]);
      for (const [x, what] of facts?.boots ?? []) if (inSpan(x)) marks.reboot.push([x, what]);
      for (const v of violations) if (v.hostMs !== undefined) marks.violation.push([v.hostMs, `${v.invariant}${v.device ? ` (${v.device})` : ''}`]);
    }
    // Both consoles around the failure: the lines before its evidence, during it (up to when it
    // was judged) and after.
    const excerpt: ExcerptLine[] = [];
    const lo = window?.[0] ?? focusMs;
    const hi = Math.max(window?.[1] ?? -Infinity, focusMs ?? -Infinity);
    if (facts && lo !== undefined && !pooled) {
      for (const d of facts.devices) {
        const near = facts.lines.filter((l) => l.device === d && l.hostMs >= lo - EXCERPT_MS && l.hostMs <= hi + EXCERPT_MS);
        const before = near.filter((l) => l.hostMs < lo).slice(-EXCERPT_LINES);
        const during = near.filter((l) => l.hostMs >= lo && l.hostMs <= hi);
        const after = near.filter((l) => l.hostMs > hi).slice(0, EXCERPT_LINES);
        excerpt.push(...before, ...(during.length > 4 * EXCERPT_LINES ? [...during.slice(0, 2 * EXCERPT_LINES), ...during.slice(-2 * EXCERPT_LINES)] : during), ...after);
      }
      excerpt.sort((a, b) => a.hostMs - b.hostMs);
    }
    const d: Drilldown = { id: testAnchor(test), test, outcome: r.outcome, violations, marks, unplaced, byDeviceClock, excerpt, ...(focusMs !== undefined ? { focusMs } : {}), ...(window ? { window } : {}), ...(span ? { span } : {}) };
    const hist = histogramFor(files, pooled, test, violations);
    if (hist) d.hist = hist;
    out.push(d);
  }
  return out;
}

const MEASURES = {
  callback: { what: 'callback duration', unit: 'µs', cell: 'cb_dur_us' },
  edge_to_callback: { what: 'edge → callback done', unit: 'µs', cell: 'cb_latency_us' },
  processing: { what: 'processing, put → done', unit: 'ms', cell: 'proc_ms' },
} as const;

/**
 * The test's own latency samples (every test's, for the pooled run row) of the measure its failure
 * is about, with that limit: the limit latency.csv shows beyond, else the measure a violation names,
 * else edge → callback when measured, else the callback's duration.
 */
function histogramFor(files: ReportFiles, pooled: boolean, test: string, violations: Drilldown['violations']): Drilldown['hist'] | undefined {
  const limits = files.latency.filter((l) => l.scope === (pooled ? 'run' : 'test') && fullTestTitle(l) === test && l.measure in MEASURES);
  const beyond = limits.find((l) => l.standing === 'beyond');
  const events = pooled ? files.events : files.events.filter((e) => fullTestTitle(e) === test);
  const fallback = violations.some((v) => v.invariant === 'processing-latency') ? 'processing' : events.some((e) => e.cb_latency_us !== '') ? 'edge_to_callback' : 'callback';
  const measure = (beyond?.measure ?? fallback) as keyof typeof MEASURES;
  const device = beyond?.device;
  const m = MEASURES[measure];
  const values = events.filter((e) => device === undefined || e.device === device).map((e) => num(e[m.cell])).filter((x): x is number => x !== undefined);
  if (values.length === 0) return undefined;
  const lim = beyond ?? limits.find((l) => l.measure === measure);
  const pct = lim && (lim.percentile === '100' ? 'max' : `p${lim.percentile}`);
  return {
    what: `${device ? `${device} ` : ''}${m.what}`,
    unit: m.unit,
    values,
    ...(lim ? { limit: Number(lim.limit), limitText: `limit ${pct} ≤ ${lim.limit} ${lim.unit}: ${lim.standing === 'insufficient' ? `not enough samples (${lim.n} of ${lim.needed})` : lim.standing}` } : {}),
  };
}

/** Every sample of the run, of the measure the run's pooled limits show beyond (else the first judged). */
export function runHistogram(files: ReportFiles): Drilldown['hist'] | undefined {
  const pooled = files.latency.find((l) => l.scope === 'run');
  if (pooled) return histogramFor(files, true, fullTestTitle(pooled), []);
  return histogramFor(files, true, '', []);
}

function uplotAsset(file: string): string {
  const require = createRequire(import.meta.url);
  return fs.readFileSync(path.join(path.dirname(require.resolve('uplot/package.json')), 'dist', file), 'utf8');
}

/** JSON safe inside a `<script>` element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

/** The drill-down sections (failures first in the page), the depth plots and the inlined library. */
export function drilldownHtml(
  files: ReportFiles,
  tests: readonly PageTest[],
): { failures: string; depth: string; runHist: string; perTest: Map<string, string>; head: string; script: string; anchors: Map<string, string> } {
  const facts = readLogFacts(files.dir);
  const all = buildDrilldowns(files, facts, tests);
  const drills = all.filter((d) => d.outcome !== 'PASS' && d.outcome !== '');
  const anchors = new Map(drills.map((d) => [d.test, d.id]));
  // Per test: its timeline (zoomable, every mark) and its queue depth from every sample in its window.
  const perTest = new Map<string, string>();
  for (const d of all) {
    let html = '';
    const nMarks = MARK_LANES.reduce((n, l) => n + d.marks[l].length, 0);
    if (anchors.has(d.test)) html += `<p class="meta">Its timeline, consoles and histogram are in its drill-down: <a href="#${esc(d.id)}">Failures, above</a>.</p>`;
    else if (nMarks > 0) {
      const id = `p-${d.id}`;
      const data = { id, test: d.test, outcome: d.outcome, violations: [], marks: d.marks, ...(d.span ? { span: d.span } : {}) };
      html += `<div class="chart" data-chart="timeline" data-id="${esc(id)}"></div><script type="application/json" class="drill-data" data-id="${esc(id)}">${scriptJson(data)}</script>`;
    }
    const span = facts?.windows.get(d.test);
    for (const s of span ? (facts?.depth.values() ?? []) : []) {
      const samples = s.samples.filter((p) => p[0] >= span![0] && p[0] <= span![1]);
      if (samples.length === 0) continue;
      const id = `pd-${d.id}-${s.device.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      html += `<div class="chart" data-chart="depth" data-id="${esc(id)}"></div><script type="application/json" class="depth-data" data-id="${esc(id)}">${scriptJson({ ...s, samples })}</script>`;
    }
    perTest.set(d.test, html);
  }
  let failures = '';
  for (const d of drills) {
    failures += `<section class="drill" id="${esc(d.id)}" data-test="${esc(d.test)}"><h3><span class="outcome o-${esc(d.outcome)}">${esc(d.outcome)}</span> ${esc(d.test)}</h3>`;
    const item = (v: Drilldown['violations'][number], k: number) =>
      `<li data-k="${k}"><strong>${esc(v.invariant)}</strong>${v.device ? ` on ${esc(v.device)}` : ''}${v.hostMs !== undefined ? ` at ${esc(v.hostMs.toFixed(1))} ms` : ''}: ${esc(v.detail)}` +
      `${v.from !== undefined && v.to !== undefined && v.to - v.from > 0.5 ? ` <span class="meta">(evidence from ${esc(v.from.toFixed(1))} ms)</span>` : ''}${v.from !== undefined ? ` <button type="button" class="show" data-k="${k}">show on the timeline</button>` : ''}</li>`;
    const shown = d.violations.slice(0, SHOWN_VIOLATIONS);
    const rest = d.violations.slice(SHOWN_VIOLATIONS);
    failures += d.violations.length
      ? `<ul class="v">${shown.map(item).join('')}</ul>` +
        (rest.length ? `<details class="more"><summary>${rest.length} more violation${rest.length === 1 ? '' : 's'}</summary><ul class="v">${rest.map((v, k) => item(v, k + SHOWN_VIOLATIONS)).join('')}</ul></details>` : '')
      : '<p class="empty">No violation recorded (see the summary row).</p>';
    failures += `<p class="evidence">Evidence: <a href="events.csv">events.csv</a> (suite/test of this test) · ${[...(facts?.devices ?? [])].map((dev) => `<a href="serial/${esc(dev)}.timed.log">serial/${esc(dev)}.timed.log</a>`).join(' · ')} · <a href="trace.json">trace.json</a> (ui.perfetto.dev) · <a href="violations.csv">violations.csv</a></p>`;
    const nMarks = MARK_LANES.reduce((n, l) => n + d.marks[l].length, 0);
    if (nMarks > 0) {
      const notes = [
        `${nMarks} marks`,
        ...(d.byDeviceClock ? [`${d.byDeviceClock} device marks placed by the device's own clock (their clock mapping's bound is over 1 ms, so events.csv gives no host time): exact among themselves, and after the relay marks by up to the serial transit time`] : []),
        ...(d.unplaced ? [`${d.unplaced} device times not drawn: no host time and no console line to place them by`] : []),
      ];
      failures += `<div class="chart" data-chart="timeline" data-id="${esc(d.id)}"></div><p class="meta">Drag across the timeline to zoom, double-click to see the whole test. ${esc(notes.join('; '))}.</p>`;
    }
    if (d.hist) failures += `<div class="chart" data-chart="hist" data-id="${esc(d.id)}"></div>`;
    if (d.excerpt.length) {
      const around = d.window && d.window[1] - d.window[0] > 0.5 ? `from ${d.window[0].toFixed(1)} to ${Math.max(d.window[1], d.focusMs ?? -Infinity).toFixed(1)} ms` : d.focusMs !== undefined ? `around ${d.focusMs.toFixed(1)} ms` : 'around the failure';
      failures += `<details open><summary>Both consoles ${esc(around)} (${d.excerpt.length} lines; lines after it was judged are marked)</summary><table class="excerpt"><thead><tr><th>host ms</th><th>device</th><th>device µs</th><th>line</th></tr></thead><tbody>`;
      for (const l of d.excerpt) failures += `<tr class="dev-${esc(l.device)}${d.focusMs !== undefined && l.hostMs > d.focusMs ? ' after' : ''}"><td class="n">${esc(l.hostMs.toFixed(3))}</td><td>${esc(l.device)}</td><td class="n">${l.devUs ?? ''}</td><td><code>${esc(l.text)}</code></td></tr>`;
      failures += '</tbody></table></details>';
    }
    failures += `<script type="application/json" class="drill-data" data-id="${esc(d.id)}">${scriptJson(d)}</script></section>`;
  }
  let depth = '';
  for (const s of facts?.depth.values() ?? []) {
    const id = `depth-${s.device.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    depth += `<h3>${esc(s.device)}</h3><div class="chart" data-chart="depth" data-id="${esc(id)}"></div><script type="application/json" class="depth-data" data-id="${esc(id)}">${scriptJson(s)}</script>`;
  }
  const hist = runHistogram(files);
  const runHist = hist ? `<div class="chart" data-chart="hist" data-id="run-hist"></div><script type="application/json" class="drill-data" data-id="run-hist">${scriptJson({ id: 'run-hist', hist })}</script>` : '';
  return { failures, depth, runHist, perTest, head: `<style>${uplotAsset('uPlot.min.css')}</style>`, script: `<script>${uplotAsset('uPlot.iife.min.js')}</script><script>${CLIENT}</script>`, anchors };
}

/** Runs in the page: builds the charts from the inlined data. Plain ES2017, no modules. */
const CLIENT = String.raw`
(function () {
  var LANES = ${JSON.stringify(MARK_LANES)};
  var COLORS = {'relay on':'#1f2328','relay off':'#8c959f',edge:'#0969da',callback:'#bf3989',queued:'#9a6700',taken:'#fb8500',done:'#1a7f37',refused:'#cf222e',power:'#6e40c9',reboot:'#8250df',violation:'#cf222e'};
  var charts = [];
  window.__hilCharts = charts;
  function width(el) { return Math.max(480, Math.min(1300, el.parentNode.clientWidth - 8)); }
  function data(cls, id) {
    var s = document.querySelector('script.' + cls + '[data-id="' + id + '"]');
    return JSON.parse(s.textContent);
  }
  function timeline(el, d) {
    var series = [{}], rows = [null];
    LANES.forEach(function (lane, k) {
      var pts = d.marks[lane];
      rows.push([pts.map(function (p) { return p[0]; }), pts.map(function () { return k; })]);
      series.push({ label: lane, stroke: COLORS[lane], fill: COLORS[lane], paths: uPlot.paths.points(),
        points: { show: false, size: lane === 'violation' ? 14 : 9, width: 1 } });
    });
    // The evidence of the selected violation (the verdict's own at first) as a band behind the marks:
    // in a dense burst its press is otherwise one dot among hundreds.
    var sel = d.violations[0] && d.violations[0].from != null ? d.violations[0] : null;
    var u = new uPlot({ mode: 2, width: width(el), height: 60 + 24 * LANES.length, title: 'timeline (host ms since the run start)',
      legend: { live: false },
      hooks: { drawAxes: [function (u) {
        if (!sel) return;
        var px = uPlot.pxRatio || 1, bb = u.bbox, c = u.ctx;
        var a = Math.max(bb.left, u.valToPos(sel.from, 'x', true)), b = Math.min(bb.left + bb.width, u.valToPos(sel.to, 'x', true));
        if (b < bb.left || a > bb.left + bb.width) return;
        c.save(); c.fillStyle = 'rgba(207,34,46,0.10)'; c.fillRect(a - 2 * px, bb.top, Math.max(4 * px, b - a + 4 * px), bb.height);
        c.fillStyle = '#cf222e'; c.font = (11 * px) + 'px system-ui,sans-serif'; c.textAlign = 'left'; c.textBaseline = 'top';
        c.fillText('evidence' + (sel.pressId ? ' of #' + sel.pressId : ''), Math.min(a + 2 * px, bb.left + bb.width - 90 * px), bb.top + bb.height + 2 * px);
        c.restore();
      }] },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      scales: { x: { time: false }, y: { range: [-0.7, LANES.length - 0.3] } },
      axes: [ { label: 'host ms' }, { size: 90, splits: function () { return LANES.map(function (_, k) { return k; }); }, values: function (u, s) { return s.map(function (k) { return LANES[k] || ''; }); } } ],
      series: series }, rows, el);
    // Open on the whole test when it is short, else on the evidence of the verdict's violation (its
    // press, relay on/off and marks, through to when it was judged); a double-click shows it all.
    var xsAll = [];
    LANES.forEach(function (l) { d.marks[l].forEach(function (p) { xsAll.push(p[0]); }); });
    var lo = Math.min.apply(null, xsAll), hi = Math.max.apply(null, xsAll), pad = Math.max(5, (hi - lo) * 0.04);
    var view = [lo - pad, hi + pad];
    if (hi - lo > 3000 && d.window) view = around(d.window[0], d.window[1]);
    else if (hi - lo > 3000 && d.focusMs != null) view = around(d.focusMs, d.focusMs);
    u.setScale('x', { min: view[0], max: view[1] });
    var rec = { kind: 'timeline', id: d.id, window: d.window, selected: sel ? [sel.from, sel.to] : null, marks: LANES.reduce(function (m, l) { m[l] = d.marks[l].length; return m; }, {}), chart: u };
    charts.push(rec);
    // "show on the timeline" next to each violation: zoom to its own evidence.
    document.querySelectorAll('section.drill[id="' + d.id + '"] button.show').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var v = d.violations[+btn.getAttribute('data-k')];
        sel = v; rec.selected = [v.from, v.to];
        var r = around(v.from, v.to);
        u.setScale('x', { min: r[0], max: r[1] });
        el.scrollIntoView({ block: 'nearest' });
      });
    });
  }
  /** Ticks of a log axis at 1, 2 and 5 of each decade (uPlot's own start at the range's minimum: '108, 1,080'). */
  function logSplits(u, ax, min, max) {
    var out = [];
    for (var e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      [1, 2, 5].forEach(function (m) { var v = m * Math.pow(10, e); if (v >= min && v <= max) out.push(v); });
    }
    return out;
  }
  /** A view of [a, b] with room either side, at least 300 ms wide so its neighbours show. */
  function around(a, b) {
    var w = b - a, pad = Math.max(5, w * 0.1, (300 - w) / 2);
    return [a - pad, b + pad];
  }
  function hist(el, d) {
    var h = d.hist, v = h.values.slice().sort(function (a, b) { return a - b; });
    var lo = v[0], hi = v[v.length - 1], mid = v[Math.floor(v.length / 2)];
    // A log scale when one outlier would squeeze everything else into one bar.
    var log = lo > 0 && hi / Math.max(lo, 1e-9) > 20 && hi > 10 * mid;
    var bins = Math.min(40, Math.max(5, Math.ceil(Math.sqrt(v.length)) * 2));
    var f = log ? Math.log10 : function (x) { return x; }, inv = log ? function (x) { return Math.pow(10, x); } : f;
    // The range takes in the limit too, so its line is always drawn.
    var withLimit = h.limit != null && (!log || h.limit > 0);
    var a = f(withLimit ? Math.min(lo, h.limit) : lo), b = f(withLimit ? Math.max(hi, h.limit) : hi); if (!(b > a)) { a -= 0.5; b = a + 1; }
    var w = (b - a) / bins, xs = [], ys = [];
    for (var k = 0; k < bins; k++) { xs.push(inv(a + (k + 0.5) * w)); ys.push(0); }
    v.forEach(function (x) { var k = Math.min(bins - 1, Math.floor((f(x) - a) / w)); ys[k]++; });
    // Empty bins draw nothing (a zero-height bar is a stray line on the axis).
    ys = ys.map(function (n) { return n === 0 ? null : n; });
    // Whole bins at both ends, and a margin so a limit at the edge is not drawn on the axis.
    var xr = [inv(a - w * 0.5), inv(b + w * 0.5)];
    var label = 'limit ' + h.limit + ' ' + h.unit;
    var rec = { kind: 'hist', id: d.id, samples: v.length, bars: ys.filter(function (n) { return n != null; }).length, log: log, limit: h.limit, label: null, plot: null };
    var u = new uPlot({ width: width(el), height: 240, title: h.what + ' (' + h.unit + '), ' + v.length + ' samples' + (log ? ', log scale' : '') + (h.limitText ? '; ' + h.limitText : ''),
      legend: { show: false },
      scales: { x: { time: false, distr: log ? 3 : 1, range: function () { return xr; } }, y: { range: function (u, mn, mx) { return [0, Math.max(1, mx) * 1.15]; } } },
      axes: [ log ? { label: h.unit, splits: logSplits, filter: function (u, sp) { return sp; }, values: function (u, sp) { return sp.map(function (v) { return v == null ? '' : v.toLocaleString('en'); }); } } : { label: h.unit }, { label: 'samples', size: 60, incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000] } ],
      series: [{}, { label: 'samples', stroke: '#0969da', fill: 'rgba(9,105,218,0.5)', paths: uPlot.paths.bars({ size: [0.9, 100] }), points: { show: false } }],
      hooks: { draw: [function (u) {
        var px = uPlot.pxRatio || 1, c = u.ctx, bb = u.bbox;
        // Each bar's count above it: a bar of 1 beside one of 60 is otherwise all but invisible,
        // and the few outliers are what a reviewer looks for.
        c.save(); c.font = (10 * px) + 'px system-ui,sans-serif'; c.textAlign = 'center'; c.textBaseline = 'bottom'; c.fillStyle = '#1f2328';
        ys.forEach(function (n, k) { if (n != null) c.fillText(String(n), u.valToPos(xs[k], 'x', true), u.valToPos(n, 'y', true) - 2 * px); });
        c.restore();
        if (h.limit == null) return;
        var x = u.valToPos(h.limit, 'x', true);
        c.save(); c.strokeStyle = '#cf222e'; c.lineWidth = 2 * px; c.setLineDash([6 * px, 4 * px]);
        c.beginPath(); c.moveTo(x, bb.top); c.lineTo(x, bb.top + bb.height); c.stroke();
        // The label always whole and inside the plot: right of the line when it fits there, else left
        // of it; uPlot leaves its own text alignment on the context, so set every property here.
        c.setLineDash([]); c.font = (12 * px) + 'px system-ui,sans-serif'; c.textBaseline = 'top'; c.textAlign = 'left';
        var tw = c.measureText(label).width, gap = 4 * px, left = bb.left + bb.width;
        var tx = x + gap + tw <= left ? x + gap : Math.max(bb.left + gap, x - gap - tw);
        var ty = bb.top + 4 * px;
        c.fillStyle = 'rgba(255,255,255,0.85)'; c.fillRect(tx - 2 * px, ty - 2 * px, tw + 4 * px, 16 * px);
        c.fillStyle = '#cf222e'; c.fillText(label, tx, ty); c.restore();
        rec.label = { text: label, left: tx / px, right: (tx + tw) / px, line: x / px };
        rec.plot = { left: bb.left / px, right: (bb.left + bb.width) / px };
      }] } }, [xs, ys], el);
    rec.chart = u;
    charts.push(rec);
  }
  function depth(el, s) {
    var xs = s.samples.map(function (p) { return p[0]; }), ys = s.samples.map(function (p) { return p[1]; });
    var series = [{}, { label: 'depth', stroke: '#0969da', width: 1.5, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }];
    var rows = [xs, ys];
    if (s.capacity != null) { series.push({ label: 'capacity ' + s.capacity, stroke: '#cf222e', dash: [6, 4], points: { show: false } }); rows.push(xs.map(function () { return s.capacity; })); }
    var u = new uPlot({ width: width(el), height: 220, title: 'queue depth, ' + s.device + ': max ' + ys.reduce(function (m, y) { return y > m ? y : m; }, 0) + (s.capacity != null ? ' of ' + s.capacity : '') + ' (every put, take and refusal)',
      legend: { live: false },
      cursor: { drag: { x: true, y: false } }, scales: { x: { time: false }, y: { range: function (u, mn, mx) { return [0, Math.max(mx, s.capacity || 0, 1) * 1.05]; } } },
      axes: [{ label: 'host ms since the run start' }, { label: 'depth', size: 50 }], series: series }, rows, el);
    charts.push({ kind: 'depth', id: s.device, el: el.getAttribute('data-id'), samples: xs.length, capacity: s.capacity, chart: u });
  }
  document.querySelectorAll('.chart').forEach(function (el) {
    var id = el.getAttribute('data-id'), kind = el.getAttribute('data-chart');
    try {
      if (kind === 'timeline') timeline(el, data('drill-data', id));
      else if (kind === 'hist') hist(el, data('drill-data', id));
      else if (kind === 'depth') depth(el, data('depth-data', id));
    } catch (e) { el.textContent = 'chart not drawn: ' + e; console.error(e); }
  });
})();
`;
