import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { ReportWriter } from '../../harness/report/report-writer.ts';
import { num, readReport } from '../../harness/report/read-report.ts';
import { at, readCsv, START_NS, syntheticRun, tempDir, tempDirPerTest, TRICKY, writeRun } from './helpers.ts';

// The columns as the issue specifies them: the files are a contract with other tools.
const SUMMARY = ['run_id', 'rig', 'scenario', 'suite', 'test', 'outcome', 'duration_ms', 'presses', 'events_queued', 'events_processed', 'events_dropped', 'max_depth', 'queue_capacity', 'cb_p50_us', 'cb_p99_us', 'cb_max_us', 'proc_p50_ms', 'proc_p99_ms', 'press_to_edge_p50_ms', 'seed', 'path', 'replay_path', 'violations', 'notes'];
const EVENTS = ['run_id', 'suite', 'test', 'press_id', 'device', 'button', 'host_press_ms', 'host_release_ms', 'dev_edge_us', 'dev_cb_us', 'dev_queued_us', 'dev_taken_us', 'dev_done_us', 'host_edge_ms', 'host_cb_ms', 'host_queued_ms', 'host_taken_ms', 'host_done_ms', 'clock_err_us', 'depth_after_put', 'press_to_edge_ms', 'cb_latency_us', 'cb_dur_us', 'queue_wait_ms', 'proc_ms', 'taken_to_done_ms', 'press_to_done_ms', 'outcome'];
const VIOLATIONS = ['suite', 'test', 'invariant', 'device', 'host_time_ms', 'detail', 'counterexample', 'press_id', 'evidence_ms'];

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
    run.violations.push({ suite: 'bursts', test: 'burst of 12', invariant: 'exactly-once', device: 'pi', hostTimeNs: at(1103), evidenceNs: at(103), pressId: 7, detail: 'press #7 (UP): relay energised at #30 but pi printed no edge on GPIO 12 within 1000 ms' });
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
      expect([r.scenario, r.suite, r.test, r.outcome]).to.deep.equal([t.scenario, t.suite ?? '', t.test, t.outcome]);
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
      expect([r.suite, r.test, r.press_id, r.device, r.button, r.outcome]).to.deep.equal([e.suite ?? '', e.test, String(e.pressId), e.device, e.button, e.outcome]);
      const close = (cell: string, want: number | undefined, tol: number, what: string) =>
        want === undefined ? expect(cell, what).to.equal('') : expect(num(cell), what).to.be.closeTo(want, tol);
      close(r.host_press_ms, hostMs(e.hostPressNs), 0.0005, 'host_press_ms');
      close(r.host_release_ms, hostMs(e.hostReleaseNs), 0.0005, 'host_release_ms');
      // A mapped host time has no more digits than its bound supports, and none past 1 ms.
      const err = e.clockErrUs!;
      const mapped = (cell: string, t: bigint | undefined, what: string) => {
        if (err > 1000 || t === undefined) return expect(cell, what).to.equal('');
        expect(cell.split('.')[1]?.length ?? 0, `${what} digits for ±${err} µs`).to.equal(err <= 1 ? 3 : err <= 10 ? 2 : err <= 100 ? 1 : 0);
        close(cell, hostMs(t), err <= 1 ? 0.0005 : err <= 10 ? 0.005 : err <= 100 ? 0.05 : 0.5, what);
      };
      mapped(r.host_edge_ms, e.hostEdgeNs, 'host_edge_ms');
      mapped(r.host_done_ms, e.hostDoneNs, 'host_done_ms');
      expect(num(r.dev_edge_us)).to.equal(e.devEdgeUs);
      expect(num(r.dev_done_us)).to.equal(e.devDoneUs);
      expect(num(r.depth_after_put)).to.equal(e.depthAfterPut);
      close(r.clock_err_us, e.clockErrUs, 0.05, 'clock_err_us');
      // Derived latencies.
      const d = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);
      mapped(r.press_to_edge_ms, e.hostEdgeNs === undefined ? undefined : START_NS + e.hostEdgeNs - e.hostPressNs!, 'press_to_edge_ms');
      close(r.cb_latency_us, d(e.devCbUs, e.devEdgeUs), 0.05, 'cb_latency_us');
      const ms = (us: number | undefined) => (us === undefined ? undefined : us / 1000);
      close(r.queue_wait_ms, ms(d(e.devTakenUs, e.devQueuedUs)), 0.0005, 'queue_wait_ms');
      // proc_ms is put → done (what the processingMs limit judges); taken_to_done_ms the processor's own work.
      close(r.proc_ms, ms(d(e.devDoneUs, e.devQueuedUs)), 0.0005, 'proc_ms');
      close(r.taken_to_done_ms, ms(d(e.devDoneUs, e.devTakenUs)), 0.0005, 'taken_to_done_ms');
      mapped(r.press_to_done_ms, e.hostDoneNs === undefined ? undefined : START_NS + e.hostDoneNs - e.hostPressNs!, 'press_to_done_ms');
    });
    // Fixed decimals: host ms with 3; a mapped time with what its bound supports (±0.8 µs, ±85.5 µs, ±25 ms).
    expect(report.events[0]!.host_press_ms).to.equal('100.000');
    expect(report.events[0]!.host_edge_ms).to.equal('101.250');
    expect(report.events[8]!.host_edge_ms).to.equal('301.3');
    expect(report.events[11]!.host_edge_ms).to.equal('');
    expect(report.events[11]!.clock_err_us).to.equal('25000.0');

    const violations = readCsv(path.join(tmp.dir, 'violations.csv'));
    expect(violations.header).to.deep.equal(VIOLATIONS);
    expect(report.violations.map((v) => [v.suite, v.test, v.invariant, v.device, v.host_time_ms, v.detail, v.counterexample, v.press_id, v.evidence_ms])).to.deep.equal(
      run.violations.map((v) => [v.suite ?? '', v.test, v.invariant, v.device ?? '', v.hostTimeNs === undefined ? '' : hostMs(v.hostTimeNs)!.toFixed(3), v.detail, v.counterexample ?? '', v.pressId === undefined ? '' : String(v.pressId), v.evidenceNs === undefined ? '' : hostMs(v.evidenceNs)!.toFixed(3)]),
    );
    // A missed deadline names its press and the time it counts from, apart from when it was judged.
    expect(report.violations.find((v) => v.press_id !== '')).to.include({ press_id: '7', host_time_ms: '1103.000', evidence_ms: '103.000' });
  });

  it('round-trips commas, quotes, CR/LF and non-ASCII text in every text column', function () {
    const w = new ReportWriter();
    w.open(tmp.dir, { runId: `run ${TRICKY}`, rig: TRICKY, startNs: 0n });
    w.addTest({ scenario: TRICKY, suite: TRICKY, test: TRICKY, outcome: 'ERROR', seed: TRICKY, path: TRICKY, replayPath: TRICKY, violations: [TRICKY, TRICKY], notes: [TRICKY] });
    w.addEvent({ test: TRICKY, pressId: TRICKY, device: TRICKY, button: TRICKY, outcome: 'duplicated' });
    w.addViolation({ test: TRICKY, invariant: TRICKY, device: TRICKY, detail: TRICKY, counterexample: TRICKY, pressId: TRICKY });
    w.close();
    const r = readReport(tmp.dir);
    const s = r.summary[0]!;
    expect([s.run_id, s.rig, s.scenario, s.suite, s.test, s.seed, s.path, s.replay_path]).to.deep.equal([`run ${TRICKY}`, TRICKY, TRICKY, TRICKY, TRICKY, TRICKY, TRICKY, TRICKY]);
    expect(s.violations).to.equal(`${TRICKY}; ${TRICKY}`);
    expect(s.notes).to.equal(TRICKY);
    const e = r.events[0]!;
    expect([e.test, e.press_id, e.device, e.button, e.outcome]).to.deep.equal([TRICKY, TRICKY, TRICKY, TRICKY, 'duplicated']);
    expect(r.violations[0]).to.deep.equal({ suite: '', test: TRICKY, invariant: TRICKY, device: TRICKY, host_time_ms: '', detail: TRICKY, counterexample: TRICKY, press_id: TRICKY, evidence_ms: '' });
    // A strict reader that only knows LF record separators agrees (the CR inside a cell is quoted).
    const strict = parse(fs.readFileSync(path.join(tmp.dir, 'events.csv'), 'utf8'), { record_delimiter: '\n' });
    expect(strict).to.have.length(2);
    expect(strict[1]![2]).to.equal(TRICKY);
  });

  it('neutralises cells a spreadsheet would run as a formula, in every file, and reads them back as written', function () {
    const formulas = ['=HYPERLINK("http://x","click")', '+1+1', '-2+3+cmd|\' /C calc\'!A0', '@SUM(A1:A2)', '\tindented', '\rcr', "'=already quoted"];
    const w = new ReportWriter();
    w.open(tmp.dir, { runId: 'r', rig: 'sim', startNs: START_NS });
    formulas.forEach((f, k) => {
      w.addEvent({ suite: f, test: f, pressId: f, device: 'pi', button: f, outcome: 'processed', hostPressNs: at(k), devEdgeUs: -5 });
      w.addViolation({ test: 't', invariant: 'death-pattern', device: 'pi', detail: f, counterexample: f });
      w.addSetupAttempt({ step: f, attempt: 1, command: f, outcome: 'ok', outputLines: 1, outputTail: f });
      w.addLatency({ scope: 'test', scenario: f, test: f, device: 'pi', measure: 'callback', percentile: 95, n: 3, limit: 1000, unit: 'µs', confidence: 0.95, standing: 'insufficient', needed: 59, estimate: -1.5 });
    });
    w.addTest({ scenario: 's', test: 't', outcome: 'FAIL', seed: -1234567, violations: [formulas[0]!], notes: [formulas[1]!] });
    w.close();
    const formulaLike = /^[=+\-@\t\r]/;
    for (const f of ['summary.csv', 'events.csv', 'violations.csv', 'setup.csv', 'latency.csv']) {
      for (const row of readCsv(path.join(tmp.dir, f)).rows) {
        for (const cell of row) if (formulaLike.test(cell)) expect(cell, `${f}: a cell a spreadsheet would run`).to.match(/^-\d+(\.\d+)?$/);
      }
    }
    // Numbers stay numbers (a negative device time, seed and estimate are not text).
    const events = readCsv(path.join(tmp.dir, 'events.csv'));
    expect(events.rows[0]![events.header.indexOf('dev_edge_us')]).to.equal('-5');
    expect(events.rows[0]![events.header.indexOf('button')]).to.equal(`'${formulas[0]}`);
    expect(readCsv(path.join(tmp.dir, 'summary.csv')).rows[0]![SUMMARY.indexOf('seed')]).to.equal('-1234567');
    // readReport gives back exactly what was written, the already-quoted one included.
    const r = readReport(tmp.dir);
    expect(r.events.map((e) => [e.suite, e.test, e.press_id, e.button])).to.deep.equal(formulas.map((f) => [f, f, f, f]));
    expect(r.violations.map((v) => v.detail)).to.deep.equal(formulas);
    expect(r.setup.map((x) => [x.step, x.command, x.output_tail])).to.deep.equal(formulas.map((f) => [f, f, f]));
    expect(r.latency.map((x) => [x.scenario, x.test, x.estimate])).to.deep.equal(formulas.map((f) => [f, f, '-1.5']));
    expect([r.summary[0]!.violations, r.summary[0]!.notes]).to.deep.equal([formulas[0], formulas[1]]);
  });

  it('writes rows as they are added, before close', function () {
    const w = new ReportWriter();
    w.open(tmp.dir, { runId: 'r', rig: 'sim', startNs: START_NS });
    w.addEvent({ test: 't', pressId: 1, device: 'pi', button: 'UP', outcome: 'processed', hostPressNs: at(1) });
    expect(readCsv(path.join(tmp.dir, 'events.csv')).rows).to.have.length(1);
    w.addEvent({ test: 't', pressId: 2, device: 'pi', button: 'UP', outcome: 'processed', hostPressNs: at(2) });
    expect(readCsv(path.join(tmp.dir, 'events.csv')).rows.map((r) => r[3])).to.deep.equal(['1', '2']);
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
