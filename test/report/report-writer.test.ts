import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { ReportWriter } from '../../harness/report/report-writer.ts';
import { num, readReport } from '../../harness/report/read-report.ts';
import { at, readCsv, START_NS, syntheticRun, tempDir, tempDirPerTest, TRICKY, writeRun } from './helpers.ts';

// The columns as the issue specifies them: the files are a contract with other tools.
const SUMMARY = ['run_id', 'rig', 'scenario', 'test', 'outcome', 'duration_ms', 'presses', 'events_queued', 'events_processed', 'events_dropped', 'max_depth', 'queue_capacity', 'cb_p50_us', 'cb_p99_us', 'cb_max_us', 'proc_p50_ms', 'proc_p99_ms', 'press_to_edge_p50_ms', 'seed', 'path', 'replay_path', 'violations', 'notes'];
const EVENTS = ['run_id', 'test', 'press_id', 'device', 'button', 'host_press_ms', 'host_release_ms', 'dev_edge_us', 'dev_cb_us', 'dev_queued_us', 'dev_taken_us', 'dev_done_us', 'host_edge_ms', 'host_cb_ms', 'host_queued_ms', 'host_taken_ms', 'host_done_ms', 'clock_err_us', 'depth_after_put', 'press_to_edge_ms', 'cb_latency_us', 'cb_dur_us', 'queue_wait_ms', 'proc_ms', 'press_to_done_ms', 'outcome'];
const VIOLATIONS = ['test', 'invariant', 'device', 'host_time_ms', 'detail', 'counterexample'];

const hostMs = (t: bigint | undefined) => (t === undefined ? undefined : Number(t - START_NS) / 1e6);

describe('ReportWriter', function () {
  const tmp = tempDirPerTest();

  it('writes header rows at open, so a run that ends at once has valid files', function () {
    const w = new ReportWriter();
    w.open(tmp.dir, { runId: 'r0', rig: 'sim', startNs: 0n });
    // Not closed yet: the headers must already be on disk.
    expect(readCsv(path.join(tmp.dir, 'summary.csv'))).to.deep.equal({ header: SUMMARY, rows: [] });
    expect(readCsv(path.join(tmp.dir, 'events.csv'))).to.deep.equal({ header: EVENTS, rows: [] });
    expect(readCsv(path.join(tmp.dir, 'violations.csv'))).to.deep.equal({ header: VIOLATIONS, rows: [] });
    w.close();
  });

  it('writes every row with the exact columns, and the values read back', function () {
    const run = syntheticRun();
    writeRun(tmp.dir, run);

    const summary = readCsv(path.join(tmp.dir, 'summary.csv'));
    expect(summary.header).to.deep.equal(SUMMARY);
    expect(summary.rows).to.have.length(run.tests.length);
    for (const r of summary.rows) expect(r).to.have.length(SUMMARY.length);

    const report = readReport(tmp.dir);
    expect(report.missing).to.deep.equal([]);
    report.summary.forEach((r, k) => {
      const t = run.tests[k]!;
      expect(r.run_id).to.equal('run-1');
      expect(r.rig).to.equal(t.rig ?? 'sim');
      expect([r.scenario, r.test, r.outcome]).to.deep.equal([t.scenario, t.test, t.outcome]);
      if (t.durationMs !== undefined && Number.isFinite(t.durationMs)) expect(num(r.duration_ms)).to.be.closeTo(t.durationMs, 0.05, `duration of ${t.test}`);
      else expect(r.duration_ms).to.equal('');
      expect(num(r.presses)).to.equal(t.presses);
      expect(num(r.events_dropped)).to.equal(t.eventsDropped);
      expect(num(r.queue_capacity)).to.equal(t.queueCapacity);
      expect(num(r.cb_p99_us)).to.equal(t.cbP99Us);
      expect(num(r.proc_p99_ms)).to.equal(t.procP99Ms);
      expect(r.seed).to.equal(t.seed === undefined ? '' : String(t.seed));
      expect(r.path).to.equal(t.path ?? '');
      expect(r.replay_path).to.equal(t.replayPath ?? '');
      expect(r.violations).to.equal((t.violations ?? []).join('; '));
    });
    // NaN and unknown values are empty cells, never "NaN" / "undefined".
    const hung = report.summary.find((r) => r.outcome === 'HUNG')!;
    expect(hung.duration_ms).to.equal('');
    expect(hung.cb_p50_us).to.equal('');
    const raw = fs.readFileSync(path.join(tmp.dir, 'summary.csv'), 'utf8') + fs.readFileSync(path.join(tmp.dir, 'events.csv'), 'utf8');
    expect(raw).not.to.match(/NaN|undefined|null|Infinity/);

    const events = readCsv(path.join(tmp.dir, 'events.csv'));
    expect(events.header).to.deep.equal(EVENTS);
    expect(report.events).to.have.length(run.events.length);
    report.events.forEach((r, k) => {
      const e = run.events[k]!;
      expect([r.test, r.press_id, r.device, r.button, r.outcome]).to.deep.equal([e.test, String(e.pressId), e.device, e.button, e.outcome]);
      const close = (cell: string, want: number | undefined, tol: number, what: string) =>
        want === undefined ? expect(cell, what).to.equal('') : expect(num(cell), what).to.be.closeTo(want, tol);
      close(r.host_press_ms, hostMs(e.hostPressNs), 0.0005, 'host_press_ms');
      close(r.host_release_ms, hostMs(e.hostReleaseNs), 0.0005, 'host_release_ms');
      close(r.host_done_ms, hostMs(e.hostDoneNs), 0.0005, 'host_done_ms');
      expect(num(r.dev_edge_us)).to.equal(e.devEdgeUs);
      expect(num(r.dev_done_us)).to.equal(e.devDoneUs);
      expect(num(r.depth_after_put)).to.equal(e.depthAfterPut);
      close(r.clock_err_us, e.clockErrUs, 0.05, 'clock_err_us');
      // Derived latencies.
      const d = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);
      close(r.press_to_edge_ms, d(hostMs(e.hostEdgeNs), hostMs(e.hostPressNs)), 0.0005, 'press_to_edge_ms');
      close(r.cb_latency_us, d(e.devCbUs, e.devEdgeUs), 0.05, 'cb_latency_us');
      const ms = (us: number | undefined) => (us === undefined ? undefined : us / 1000);
      close(r.queue_wait_ms, ms(d(e.devTakenUs, e.devQueuedUs)), 0.0005, 'queue_wait_ms');
      close(r.proc_ms, ms(d(e.devDoneUs, e.devTakenUs)), 0.0005, 'proc_ms');
      close(r.press_to_done_ms, d(hostMs(e.hostDoneNs), hostMs(e.hostPressNs)), 0.0005, 'press_to_done_ms');
    });
    // Fixed decimals: host ms with 3.
    expect(report.events[0]!.host_press_ms).to.equal('100.000');
    expect(report.events[0]!.host_edge_ms).to.equal('101.250');

    const violations = readCsv(path.join(tmp.dir, 'violations.csv'));
    expect(violations.header).to.deep.equal(VIOLATIONS);
    expect(report.violations.map((v) => [v.test, v.invariant, v.device, v.host_time_ms, v.detail, v.counterexample])).to.deep.equal(
      run.violations.map((v) => [v.test, v.invariant, v.device ?? '', v.hostTimeNs === undefined ? '' : hostMs(v.hostTimeNs)!.toFixed(3), v.detail, v.counterexample ?? '']),
    );
  });

  it('round-trips commas, quotes, CR/LF and non-ASCII text in every text column', function () {
    const w = new ReportWriter();
    w.open(tmp.dir, { runId: `run ${TRICKY}`, rig: TRICKY, startNs: 0n });
    w.addTest({ scenario: TRICKY, test: TRICKY, outcome: 'ERROR', seed: TRICKY, path: TRICKY, replayPath: TRICKY, violations: [TRICKY, TRICKY], notes: [TRICKY] });
    w.addEvent({ test: TRICKY, pressId: TRICKY, device: TRICKY, button: TRICKY, outcome: 'duplicated' });
    w.addViolation({ test: TRICKY, invariant: TRICKY, device: TRICKY, detail: TRICKY, counterexample: TRICKY });
    w.close();
    const r = readReport(tmp.dir);
    const s = r.summary[0]!;
    expect([s.run_id, s.rig, s.scenario, s.test, s.seed, s.path, s.replay_path]).to.deep.equal([`run ${TRICKY}`, TRICKY, TRICKY, TRICKY, TRICKY, TRICKY, TRICKY]);
    expect(s.violations).to.equal(`${TRICKY}; ${TRICKY}`);
    expect(s.notes).to.equal(TRICKY);
    const e = r.events[0]!;
    expect([e.test, e.press_id, e.device, e.button, e.outcome]).to.deep.equal([TRICKY, TRICKY, TRICKY, TRICKY, 'duplicated']);
    expect(r.violations[0]).to.deep.equal({ test: TRICKY, invariant: TRICKY, device: TRICKY, host_time_ms: '', detail: TRICKY, counterexample: TRICKY });
    // A strict reader that only knows LF record separators agrees (the CR inside a cell is quoted).
    const strict = parse(fs.readFileSync(path.join(tmp.dir, 'events.csv'), 'utf8'), { record_delimiter: '\n' });
    expect(strict).to.have.length(2);
    expect(strict[1]![1]).to.equal(TRICKY);
  });

  it('writes rows as they are added, before close', function () {
    const w = new ReportWriter();
    w.open(tmp.dir, { runId: 'r', rig: 'sim', startNs: START_NS });
    w.addEvent({ test: 't', pressId: 1, device: 'pi', button: 'UP', outcome: 'processed', hostPressNs: at(1) });
    expect(readCsv(path.join(tmp.dir, 'events.csv')).rows).to.have.length(1);
    w.addEvent({ test: 't', pressId: 2, device: 'pi', button: 'UP', outcome: 'processed', hostPressNs: at(2) });
    expect(readCsv(path.join(tmp.dir, 'events.csv')).rows.map((r) => r[2])).to.deep.equal(['1', '2']);
    expect(w.counts).to.deep.equal({ tests: 0, events: 2, violations: 0 });
    w.close();
  });

  it('refuses calls in the wrong state, naming the state', function () {
    const w = new ReportWriter();
    expect(() => w.addTest({ scenario: 's', test: 't', outcome: 'PASS' })).to.throw(/addTest: the writer is new; addTest needs it open/);
    w.open(tmp.dir, { runId: 'r', rig: 'sim', startNs: 0n });
    expect(() => w.open(tmp.dir, { runId: 'r', rig: 'sim', startNs: 0n })).to.throw(/open: the writer is open/);
    w.close();
    expect(() => w.addEvent({ test: 't', pressId: 1, device: 'pi', button: 'UP', outcome: 'processed' })).to.throw(/the writer is closed/);
    w.close(); // idempotent
  });

  it('refuses to overwrite a recorded run and rejects unknown outcomes', function () {
    writeRun(tmp.dir, syntheticRun());
    expect(() => new ReportWriter().open(tmp.dir, { runId: 'again', rig: 'sim', startNs: 0n })).to.throw(/summary\.csv already exists/);
    expect(readReport(tmp.dir).summary).to.have.length(4);
    const { dir: d2, cleanup: c2 } = tempDir();
    try {
      const w = new ReportWriter();
      w.open(d2, { runId: 'r', rig: 'sim', startNs: 0n });
      expect(() => w.addTest({ scenario: 's', test: 't', outcome: 'pass' as never })).to.throw(/outcome must be one of PASS, FAIL, HUNG, ERROR, TIMEOUT, ABORTED; got "pass"/);
      expect(() => w.addEvent({ test: 't', pressId: 1, device: 'pi', button: 'UP', outcome: 'ok' as never })).to.throw(/outcome must be one of processed, dropped, lost, duplicated/);
      w.close();
      expect(readReport(d2).summary).to.deep.equal([]);
    } finally {
      c2();
    }
  });
});
