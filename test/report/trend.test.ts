import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ReportWriter } from '../../harness/report/report-writer.ts';
import type { EventRow, SummaryRow } from '../../harness/report/rows.ts';
import { flakeRates, readTrendRuns, renderTrend } from '../../harness/report/trend.ts';
import { at, START_NS, tempDirPerTest } from './helpers.ts';

/** A recorded run folder as hil run leaves it (the files the trend reads), written by the ReportWriter. */
function recordRun(root: string, runId: string, started: string, tests: SummaryRow[], cbUs: number[], limitUs = 1000): void {
  const dir = path.join(root, runId);
  const w = new ReportWriter();
  w.open(dir, { runId, rig: 'sim-bench', startNs: START_NS });
  cbUs.forEach((us, k) => {
    const e: EventRow = { suite: 'buttons', test: 'one press', pressId: k + 1, device: 'pi', button: 'UP', outcome: 'processed', hostPressNs: at(k * 10), devEdgeUs: 1000 * k, devCbUs: 1000 * k + us, devQueuedUs: 1000 * k + 10, devDoneUs: 1000 * k + 2000 };
    w.addEvent(e);
  });
  for (const t of tests) w.addTest(t);
  w.addLatency({ scope: 'run', scenario: 'run', test: 'latency over the whole run (pooled)', device: 'pi', measure: 'edge_to_callback', percentile: 95, n: cbUs.length, limit: limitUs, unit: 'µs', confidence: 0.95, standing: 'insufficient', needed: 59 });
  w.close();
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ runId, rig: 'sim-bench', fault: null, started }));
}

describe('hil trend (trend.html over recorded runs)', function () {
  const tmp = tempDirPerTest('hil-trend-');

  it('a verdict grid, flake rates with bench errors apart from firmware failures, p99 per device with its limit, property runs within budget', function () {
    const t = (test: string, outcome: SummaryRow['outcome'], notes: string[] = []): SummaryRow => ({ scenario: '10-buttons.spec.ts', suite: 'buttons', test, outcome, notes });
    // Three nights; "flaky burst" fails once (firmware), "boot" has one bench ERROR; the property ran short once.
    recordRun(tmp.dir, '20261201-020000Z', '2026-12-01T02:00:00Z', [t('one press', 'PASS'), t('flaky burst', 'PASS'), t('boot', 'PASS'), t('property bursts', 'PASS', ['bursts: 300 of 300 run(s) in 540 s, seed 1'])], [100, 120, 140]);
    recordRun(tmp.dir, '20261202-020000Z', '2026-12-02T02:00:00Z', [t('one press', 'PASS'), t('flaky burst', 'FAIL'), t('boot', 'ERROR'), t('property bursts', 'PASS', ['bursts: 212 of 300 run(s) in 600 s, seed 2 (budget ran out)'])], [100, 900, 1500]);
    recordRun(tmp.dir, '20261203-020000Z', '2026-12-03T02:00:00Z', [t('one press', 'PASS'), t('flaky burst', 'PASS'), t('boot', 'PASS'), t('property bursts', 'PASS', ['bursts: 300 of 300 run(s) in 530 s, seed 3'])], [90, 95, 99]);
    fs.mkdirSync(path.join(tmp.dir, 'not-a-run'));

    const runs = readTrendRuns(tmp.dir);
    expect(runs.map((r) => r.runId)).to.deep.equal(['20261201-020000Z', '20261202-020000Z', '20261203-020000Z']);
    const flakes = new Map(flakeRates(runs).map((f) => [f.test, f]));
    expect(flakes.get('buttons flaky burst')).to.include({ runs: 3, pass: 2, firmware: 1, bench: 0, flaky: true });
    expect(flakes.get('buttons boot')).to.include({ runs: 3, pass: 2, firmware: 0, bench: 1, flaky: true });
    expect(flakes.get('buttons one press')).to.include({ runs: 3, pass: 3, firmware: 0, bench: 0, flaky: false });
    expect(runs[1]!.p99).to.deep.equal([
      { device: 'pi', measure: 'edge_to_callback', value: 1500, limit: 1000 },
      { device: 'pi', measure: 'processing', value: 1.99, },
    ]);
    expect(runs[1]!.propertyRuns.get('buttons property bursts')).to.deep.equal({ done: 212, asked: 300 });

    const file = renderTrend(tmp.dir);
    expect(file).to.equal(path.join(tmp.dir, 'trend.html'));
    const html = fs.readFileSync(file, 'utf8');
    // One page, nothing fetched.
    expect(html).not.to.match(/<script[^>]*\ssrc=|<link|<img|@import/i);
    // The grid: a row per test, a column per run, each cell its verdict.
    const row = (test: string) => new RegExp(`<tr><td>${test}</td>(<td class="v o-(\\w+)"[^>]*>\\w+</td>){3}</tr>`).exec(html)?.[0] ?? '';
    expect(row('buttons flaky burst').match(/o-(\w+)/g)).to.deep.equal(['o-PASS', 'o-FAIL', 'o-PASS']);
    expect(row('buttons boot').match(/o-(\w+)/g)).to.deep.equal(['o-PASS', 'o-ERROR', 'o-PASS']);
    // Flake rates: firmware and bench in their own columns.
    expect(html).to.match(/<tr data-test="buttons flaky burst">.*?<td class="n fw">1 \(33 %\)<\/td><td class="n bench">0<\/td>.*?flaky/);
    expect(html).to.match(/<tr data-test="buttons boot">.*?<td class="n fw">0<\/td><td class="n bench">1 \(33 %\)<\/td>.*?flaky/);
    // p99 with the limit, the night over it marked.
    expect(html).to.match(/data-series="edge_to_callback-pi"><tr><th>run<\/th>.*<tr><th>p99<\/th><td class="n">140<\/td><td class="n over">1500<\/td><td class="n">99<\/td><\/tr><tr><th>limit<\/th><td class="n">1000<\/td>/);
    // Property runs within budget, the short night marked.
    expect(html).to.match(/<tr data-test="buttons property bursts"><td>buttons property bursts<\/td><td class="n">300 of 300<\/td><td class="n short">212 of 300<\/td><td class="n">300 of 300<\/td><\/tr>/);
  });

  it('an empty reports folder gives a page that says so', function () {
    const html = fs.readFileSync(renderTrend(tmp.dir), 'utf8');
    expect(html).to.contain('No recorded runs here.');
  });
});
