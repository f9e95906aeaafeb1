import fs from 'node:fs';
import path from 'node:path';
import { esc } from './_internals/html.ts';
import { drilldownHtml, type PageTest } from './drilldown.ts';
import { num, readReport, type ReportFiles } from './read-report.ts';
import { fullTestTitle, VIOLATION_LIST_SEPARATOR } from './rows.ts';
import { readRunStatus, type RunStatus } from './run-status.ts';

export const HTML_REPORT_FILE = 'report.html';

export interface HtmlReportOptions {
  /** How the run ended (`run.json`); an unfinished run is flagged INCOMPLETE at the top. Default: read from the folder. */
  status?: RunStatus;
}

/**
 * Re-render `report.html` in a run folder purely from its files (the CSVs, and observations.jsonl
 * for the consoles, power, reboots and queue depth) and return its path. The page is one
 * self-contained file: inline CSS and the charting library (uPlot) with its data, nothing
 * fetched, so it works offline.
 */
export function renderHtmlReport(dir: string, options: HtmlReportOptions = {}): string {
  const html = buildHtmlReport(readReport(dir), { status: readRunStatus(dir), ...options });
  const file = path.join(dir, HTML_REPORT_FILE);
  // Write then rename: a reader never sees half a page.
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, html);
    fs.renameSync(tmp, file);
  } catch (error) {
    // A full disk leaves no half-written temporary file behind.
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  return file;
}

const CSS = `
:root{--pass:#1a7f37;--fail:#cf222e;--hung:#8250df;--error:#bc4c00;--timeout:#9a6700;--aborted:#6e7781}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;max-width:1400px}
.scroll{overflow-x:auto}section.drill{border:1px solid #d0d7de;border-left:4px solid var(--fail);padding:4px 12px 12px;margin:12px 0}
.evidence{font-size:12px}p.more{margin:2px 0 0;font-size:12px}button.show{font-size:11px;padding:0 4px;margin-left:4px}details.more>summary{color:#57606a;cursor:pointer}table.excerpt td{font-size:11px}table.excerpt tr.dev-esp td{background:#f6f8fa}table.excerpt tr.after td:first-child{border-left:3px solid var(--fail)}
code{font-size:11px;white-space:pre-wrap}.chart{margin:8px 0}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}h3{font-size:14px;margin:16px 0 6px}
.meta{color:#57606a}.empty{color:#57606a;font-style:italic}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.outcome{font-weight:600;color:#fff;border-radius:3px;padding:1px 6px;display:inline-block}
.o-PASS{background:var(--pass)}.o-FAIL{background:var(--fail)}.o-HUNG{background:var(--hung)}.o-ERROR{background:var(--error)}.o-TIMEOUT{background:var(--timeout)}.o-ABORTED{background:var(--aborted)}.o-unknown{background:#444}
ul.v{margin:0;padding-left:16px;color:var(--fail)}ul.notes{margin:0;padding-left:16px;color:#57606a}pre{margin:0;white-space:pre-wrap;font-size:11px}
.badges span{margin-right:6px}
`;

/** Violations listed in a verdict row; the rest are counted, and listed in the test's drill-down. */
const TABLE_VIOLATIONS = 3;
/** Above this many, the run's violation table is folded away. */
const FOLD_VIOLATIONS = 20;

const OUTCOMES = new Set(['PASS', 'FAIL', 'HUNG', 'ERROR', 'TIMEOUT', 'ABORTED']);

function outcomeBadge(o: string): string {
  return `<span class="outcome o-${OUTCOMES.has(o) ? o : 'unknown'}">${esc(o || '?')}</span>`;
}

/** The page for a run's files (see {@link renderHtmlReport}). */
export function buildHtmlReport(files: ReportFiles, options: HtmlReportOptions = {}): string {
  const { summary, events, violations } = files;
  const runId = summary[0]?.run_id || events[0]?.run_id || path.basename(path.resolve(files.dir));
  const rigs = [...new Set(summary.map((r) => r.rig).filter(Boolean))];

  const counts = new Map<string, number>();
  for (const r of summary) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);

  // Tests in summary order, then any that only have events or violations (an interrupted run).
  const tests: string[] = [];
  const seen = new Set<string>();
  for (const t of [...summary, ...events, ...violations].map(fullTestTitle)) {
    if (!seen.has(t)) {
      seen.add(t);
      tests.push(t);
    }
  }
  const eventsByTest = groupBy(events, fullTestTitle);
  const violationsByTest = groupBy(violations, fullTestTitle);

  const summaryOf = new Map(summary.map((r) => [fullTestTitle(r), r]));
  const pageTests: PageTest[] = tests.map((t) => {
    const r = summaryOf.get(t);
    return { test: t, scenario: r?.scenario ?? '', outcome: r?.outcome ?? '', violations: r?.violations ?? '' };
  });
  const drill = drilldownHtml(files, pageTests);
  let body = `<h1>HIL run ${esc(runId)}</h1><p class="meta">${rigs.length ? `rig ${esc(rigs.join(', '))} · ` : ''}${summary.length} test${summary.length === 1 ? '' : 's'} · ${events.length} event${events.length === 1 ? '' : 's'} · ${violations.length} violation${violations.length === 1 ? '' : 's'}</p>`;
  if (options.status?.state === 'incomplete') body += `<p class="incomplete"><span class="outcome o-unknown">INCOMPLETE</span> ${esc(options.status.note)}</p>`;
  body += `<p class="badges">${[...counts].map(([o, n]) => `${outcomeBadge(o)}×${n}`).join(' ')}</p>`;
  if (files.missing.length) body += `<p class="empty">Missing from the run folder: ${esc(files.missing.join(', '))}.</p>`;

  // Failures first: each with its evidence.
  if (drill.failures) body += `<h2>Failures</h2>${drill.failures}`;

  // Verdicts
  body += '<h2>Verdicts</h2>';
  if (summary.length === 0) {
    body += '<p class="empty">No test finished in this run.</p>';
  } else {
    body += '<div class="scroll"><table class="verdicts"><thead><tr><th>scenario</th><th>test</th><th>outcome</th><th>duration ms</th><th>presses</th><th>queued / processed / dropped</th><th>max depth / cap</th><th>edge→callback p99 / max µs</th><th>callback duration p50 / p99 / max µs</th><th>processing (put→done) p50 / p99 ms</th><th>press→edge p50 ms</th><th>seed / path / replay</th><th>violations</th><th>notes</th></tr></thead><tbody>';
    // Not passed first, in run order within each group.
    const ordered = [...summary.filter((r) => r.outcome !== 'PASS'), ...summary.filter((r) => r.outcome === 'PASS')];
    for (const r of ordered) {
      const e2cb = (eventsByTest.get(fullTestTitle(r)) ?? []).map((e) => num(e.cb_latency_us)).filter(isNum).sort((a, b) => a - b);
      const e2cbCell = e2cb.length ? `${e2cb[Math.min(e2cb.length - 1, Math.ceil(0.99 * e2cb.length) - 1)]!.toFixed(0)} / ${e2cb[e2cb.length - 1]!.toFixed(0)}` : '';
      const anchor = drill.anchors.get(fullTestTitle(r));
      const listed = r.violations ? r.violations.split(VIOLATION_LIST_SEPARATOR) : [];
      // The verdict's own reason (the first of the summary's list) first.
      const mine = violationsByTest.get(fullTestTitle(r)) ?? [];
      const cause = mine.findIndex((v) => r.violations.startsWith(`${v.invariant} on ${v.device}: ${v.detail}`));
      const fromFile = (cause > 0 ? [mine[cause]!, ...mine.filter((_, k) => k !== cause)] : mine).map((v) => `${v.invariant}${v.device ? ` (${v.device})` : ''}: ${v.detail}`);
      const all = fromFile.length ? fromFile : listed;
      body +=
        `<tr data-test="${esc(fullTestTitle(r))}" data-outcome="${esc(r.outcome)}"><td>${esc(r.scenario)}</td><td>${anchor ? `<a href="#${esc(anchor)}">${esc(fullTestTitle(r))}</a>` : esc(fullTestTitle(r))}</td><td>${outcomeBadge(r.outcome)}</td>` +
        `<td class="n">${esc(r.duration_ms)}</td><td class="n">${esc(r.presses)}</td><td class="n">${esc(slash(r.events_queued, r.events_processed, r.events_dropped))}</td>` +
        `<td class="n">${esc(slash(r.max_depth, r.queue_capacity))}</td><td class="n">${esc(e2cbCell)}</td><td class="n">${esc(slash(r.cb_p50_us, r.cb_p99_us, r.cb_max_us))}</td>` +
        `<td class="n">${esc(slash(r.proc_p50_ms, r.proc_p99_ms))}</td><td class="n">${esc(r.press_to_edge_p50_ms)}</td>` +
        `<td>${r.seed || r.path || r.replay_path ? esc(`seed ${r.seed || '–'} · path ${r.path || '–'}${r.replay_path ? ` · ${r.replay_path}` : ''}`) : ''}</td>` +
        `<td>${all.length ? `<ul class="v">${all.slice(0, TABLE_VIOLATIONS).map((v) => `<li>${esc(v)}</li>`).join('')}</ul>` : ''}${all.length > TABLE_VIOLATIONS ? `<p class="more">${anchor ? `<a href="#${esc(anchor)}">` : ''}and ${all.length - TABLE_VIOLATIONS} more${anchor ? '</a>' : ''}</p>` : ''}</td>` +
        `<td>${r.notes ? `<ul class="notes">${r.notes.split(VIOLATION_LIST_SEPARATOR).map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}</td></tr>`;
    }
    body += '</tbody></table></div>';
  }

  if (violations.length) {
    // Every violation of the run; a long list is folded (each failing test's drill-down lists its own).
    const folded = violations.length > FOLD_VIOLATIONS;
    body += `<h2>Violations</h2>${folded ? `<details class="more"><summary>${violations.length} violations</summary>` : ''}<table class="violations"><thead><tr><th>test</th><th>invariant</th><th>device</th><th>host ms</th><th>detail</th><th>counterexample</th></tr></thead><tbody>`;
    for (const v of violations) {
      body += `<tr><td>${esc(fullTestTitle(v))}</td><td>${esc(v.invariant)}</td><td>${esc(v.device)}</td><td class="n">${esc(v.host_time_ms)}</td><td><pre>${esc(v.detail)}</pre></td><td><pre>${esc(v.counterexample)}</pre></td></tr>`;
    }
    body += `</tbody></table>${folded ? '</details>' : ''}`;
  }

  // Percentile limits: what the samples show, per test and pooled over the run.
  if (files.latency.length) {
    body += '<h2>Latency limits</h2><p class="meta">Each percentile limit judged as a claim about the distribution: <em>within</em> or <em>beyond</em> only when the samples show it at the stated confidence (order-statistic bounds), otherwise the samples needed. The run row pools every test.</p>';
    body += '<table class="latency"><thead><tr><th>scope</th><th>test</th><th>device</th><th>measure</th><th>percentile</th><th>n</th><th>estimate</th><th>bounds</th><th>limit</th><th>standing</th></tr></thead><tbody>';
    for (const l of [...files.latency].sort((a, b) => (a.scope === b.scope ? 0 : a.scope === 'run' ? -1 : 1))) {
      const standing = l.standing === 'insufficient' ? `not enough samples (${l.n} of ${l.needed} needed)` : l.standing;
      const cls = l.standing === 'beyond' ? 'FAIL' : l.standing === 'within' ? 'PASS' : 'unknown';
      body +=
        `<tr data-scope="${esc(l.scope)}"><td>${esc(l.scope)}</td><td>${esc(fullTestTitle(l))}</td><td>${esc(l.device)}</td><td>${esc(l.measure)}</td><td class="n">p${esc(l.percentile)}</td><td class="n">${esc(l.n)}</td>` +
        `<td class="n">${esc(l.estimate)} ${esc(l.unit)}</td><td class="n">${esc(l.ci_low || '−')} – ${esc(l.ci_high || '∞')} ${esc(l.unit)} (${esc(String(+(Number(l.confidence) * 100).toFixed(1)))} %)</td>` +
        `<td class="n">≤ ${esc(l.limit)} ${esc(l.unit)}</td><td><span class="outcome o-${cls}">${esc(standing)}</span></td></tr>`;
    }
    body += '</tbody></table>';
  }

  // Bench preparation: every attempt of every setup step, its output folded away.
  if (files.setup.length) {
    body += '<h2>Bench preparation</h2><table class="setup"><thead><tr><th>step</th><th>attempt</th><th>command</th><th>outcome</th><th>exit</th><th>ms</th><th>output</th></tr></thead><tbody>';
    for (const a of files.setup) {
      const outcome = a.outcome === 'ok' ? 'PASS' : a.outcome === 'aborted' ? 'ABORTED' : 'ERROR';
      const exit = a.signal || a.code;
      const out = Number(a.output_lines) > 0 ? `<details><summary>${esc(a.output_lines)} line${a.output_lines === '1' ? '' : 's'}</summary><pre>${esc(a.output_tail)}</pre></details>` : '<span class="empty">none</span>';
      body += `<tr data-step="${esc(a.step)}"><td>${esc(a.step)}</td><td class="n">${esc(a.attempt)}</td><td><pre>${esc(a.command)}</pre></td><td><span class="outcome o-${outcome}">${esc(a.outcome)}</span></td><td>${esc(exit)}</td><td class="n">${esc(a.duration_ms)}</td><td>${out}</td></tr>`;
    }
    body += '</tbody></table>';
  }

  // Callback latency over the whole run, every sample, with the pooled limit: on a log scale when one
  // outlier would squeeze the rest into one bar.
  body += '<h2>Callback latency</h2>';
  body += drill.runHist || '<p class="empty">No callback times recorded.</p>';

  // Queue depth per device, from every depth sample in the log.
  if (drill.depth) body += `<h2>Queue depth</h2><p class="meta">Every put, take and refusal the device reported, drawn as steps, with its capacity. Drag to zoom, double-click to reset.</p>${drill.depth}`;

  // Per test: its timeline and queue depth (a failing test's are in its drill-down).
  body += '<h2>Per test</h2>';
  if (tests.length === 0) body += '<p class="empty">No tests.</p>';
  else body += '<p class="meta">Each test\'s presses and requests on a zoomable timeline (drag to zoom, double-click for the whole test) and its queue depth from every sample in its window.</p>';
  for (const t of tests) {
    const evs = eventsByTest.get(t) ?? [];
    body += `<section class="test" data-test="${esc(t)}"><h3>${esc(t)}</h3>`;
    if (evs.length === 0) {
      body += '<p class="empty">No presses or requests recorded for this test.</p></section>';
      continue;
    }
    body += drill.perTest.get(t) || '<p class="empty">No host times recorded for the presses.</p>';
    const byOutcome = new Map<string, number>();
    for (const e of evs) byOutcome.set(e.outcome, (byOutcome.get(e.outcome) ?? 0) + 1);
    body += `<p class="meta">${[...byOutcome].map(([o, n]) => `${esc(o)} ${n}`).join(' · ')}</p></section>`;
  }

  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>HIL run ${esc(runId)}</title>${drill.head}<style>${CSS}</style></head><body>${body}${drill.script}</body></html>\n`;
}

function isNum(v: number | undefined): v is number {
  return v !== undefined;
}

function slash(...cells: string[]): string {
  return cells.every((c) => c === '') ? '' : cells.map((c) => c || '–').join(' / ');
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    let list = m.get(k);
    if (!list) m.set(k, (list = []));
    list.push(it);
  }
  return m;
}
