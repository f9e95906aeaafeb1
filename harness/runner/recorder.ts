import fs from 'node:fs';
import path from 'node:path';
import { decideVerdict } from '../core/invariants/verdict.ts';
import { InvariantMonitor, type OpenWindow } from '../core/invariants/monitor.ts';
import { judgeRunLatency, RUN_LATENCY_TEST, type LatencyJudgement, type PressRow, type RequestRow, type WindowResult } from '../core/invariants/report.ts';
import { resolveInvariantConfig } from '../core/invariants/types.ts';
import type { InvariantLimits, Verdict, Violation } from '../core/invariants/types.ts';
import type { HostPlacer } from '../core/invariants/epoch-fits.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import { ObservationFileWriter, OBSERVATIONS_FILE } from '../report/observations-jsonl.ts';
import { ReportWriter } from '../report/report-writer.ts';
import { TimedSerialLog } from '../report/serial-timed-log.ts';
import { TRACE_FILE, TraceWriter } from '../report/trace.ts';
import type { RowOutcome, EventRow, LatencyRow, SummaryRow, TestName, ViolationRow } from '../report/rows.ts';
import type { RigDefinition } from '../rig/types.ts';
import { writeJunit, type JunitCase } from '../report/junit.ts';
import type { AttemptReport } from './setup-steps.ts';

/** What a property test adds to its summary row (seed, path, replay file). */
export interface PropertyInfo {
  seed?: number | string;
  path?: string;
  replayPath?: string;
  counterexample?: string;
  /**
   * Runs of the property the bench could not perform (a press it performed short, a rig fault)
   * after the firmware had already failed in another: host times (ns, the log's clock) from the
   * run's reset to its end, and why. Not judged: their violations are left out of the verdict and
   * named in a note, as a rig fault may explain them.
   */
  unjudged?: ReadonlyArray<{ from: bigint; to: bigint; why: string }>;
}

/**
 * A window's violations without those of the property's unjudged runs (see
 * {@link PropertyInfo.unjudged}), and a note for each such run that had any.
 */
export function leaveOutUnjudged(result: WindowResult, unjudged: PropertyInfo['unjudged']): { result: WindowResult; notes: string[] } {
  if (!unjudged?.length) return { result, notes: [] };
  const notes: string[] = [];
  let violations = result.violations;
  for (const u of unjudged) {
    const within = violations.filter((v) => v.t >= u.from && v.t <= u.to);
    if (within.length === 0) continue;
    violations = violations.filter((v) => !within.includes(v));
    notes.push(`not judged: a run the bench could not perform (${u.why}); its ${within.length} violation(s) are left out of the verdict, the first: ${within[0]!.invariant} on ${within[0]!.device}: ${within[0]!.detail}`);
  }
  return { result: { ...result, violations }, notes };
}

/** Options of {@link RunRecorder}. */
export interface RecorderOptions {
  /** Places device times on the host clock in the rows. Default: the engine's own fits. */
  placer?: HostPlacer;
  /** The invariant limits to judge with. Default: the rig's (`rig.invariants`). */
  limits?: InvariantLimits;
  /** Notes about the whole run (what the pre-flight found it cannot judge): on the first test's row. */
  runNotes?: readonly string[];
}

/** One test as the recorder follows it. */
export interface TestRecord {
  /** Mocha's full title. */
  title: string;
  /** Its suite and own title, as the CSV files name it. */
  name: TestName;
  scenario: string;
  window: OpenWindow;
  startedNs: bigint;
  result?: WindowResult;
  property?: PropertyInfo;
  /** `harness.note` observations made while the test ran (what resets cost, run counts…). */
  notes: string[];
  /** The verdict once its rows are written (once per test, whoever finishes it first). */
  verdict?: TestVerdict;
  /** {@link RunRecorder.finish} in progress. */
  finishing?: Promise<TestVerdict>;
}

/** The space reserve's file name in a run folder, and its size. */
export const RESERVE_FILE = '.hil-space-reserve';
const RESERVE_BYTES = 1024 * 1024;

const EMPTY_RESULT: WindowResult = { window: { from: 0, to: 0, tFrom: 0n, tTo: 0n }, violations: [], stats: [], presses: [], requests: [], latency: [], samples: [] };

export interface TestVerdict {
  title: string;
  scenario: string;
  verdict: Verdict;
  reasons: string[];
  durationMs: number;
  violations: Violation[];
  result: WindowResult;
  /** What the test noted for the reader (`harness.note`), in order. */
  notes: string[];
  /** For a test that did not pass: the consoles' lines around its first violation (junit.xml's system-out). */
  excerpt?: string[];
}

/**
 * Everything a run records, as it goes: the observation log to `observations.jsonl`, the
 * invariants watching it, and per test a verdict, a summary row, its press/request rows and its
 * violations (CSV files flushed row by row), then `junit.xml` at the end.
 */
export class RunRecorder {
  readonly monitor: InvariantMonitor;
  readonly report = new ReportWriter();
  private readonly observations: ObservationFileWriter;
  /** `serial/<device>.timed.log`: each device's lines with host times and test markers. */
  private readonly timedSerial: TimedSerialLog;
  /** `trace.json`: the run as a Chrome/Perfetto trace. */
  private readonly trace: TraceWriter;
  readonly verdicts: TestVerdict[] = [];
  private closed = false;
  private readonly stopNotes: () => void;
  private readonly inFlight = new Set<Promise<TestVerdict>>();
  /** Space set aside in the run folder, given back when the disk fills so the run can record how it ended. */
  private readonly reservePath: string;
  private readonly writeFailureListeners = new Set<(error: Error) => void>();
  /** The first write that failed (a full disk), if any. */
  writeFailure: Error | undefined;
  /** Each device's firmware as its last boot line named it (`boot fw=… ver=…`), for junit.xml. */
  private readonly firmware = new Map<string, string>();
  private readonly stopBoots: () => void;
  private readonly startNs: bigint;
  /** The test running now, whose notes `harness.note` observations are. */
  private current: TestRecord | undefined;
  /** Notes about the whole run (the pre-flight), for the first test's row. */
  private pendingRunNotes: string[];

  constructor(
    readonly dir: string,
    readonly runId: string,
    readonly rig: RigDefinition,
    readonly log: ObservationLog,
    options: RecorderOptions = {},
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.reservePath = path.join(dir, RESERVE_FILE);
    try {
      fs.writeFileSync(this.reservePath, Buffer.alloc(RESERVE_BYTES, 0x20));
    } catch {
      // no room even for the reserve: the first write that fails says so
      fs.rmSync(this.reservePath, { force: true });
    }
    this.observations = new ObservationFileWriter(log, path.join(dir, OBSERVATIONS_FILE), { onError: (e) => this.writeFailed(e) });
    this.monitor = new InvariantMonitor(log, resolveInvariantConfig(rig, options.limits ?? rig.invariants), options.placer ? { placer: options.placer } : {});
    this.pendingRunNotes = [...(options.runNotes ?? [])];
    // The instant every `host_*_ms` counts from, in observations.jsonl too, so report.html can put
    // the log's lines on the CSVs' time axis.
    const startNs = log.record('harness', 'run_start', { run_id: runId }).t;
    this.report.open(dir, { runId, rig: rig.name, startNs });
    this.timedSerial = new TimedSerialLog(log, path.join(dir, 'serial'), Object.keys(rig.devices), { startNs, onError: (e) => this.writeFailed(e) });
    this.trace = new TraceWriter(log, path.join(dir, TRACE_FILE), { startNs, devices: Object.keys(rig.devices), onError: (e) => this.writeFailed(e) });
    this.startNs = startNs;
    this.stopBoots = log.on(
      '*',
      (o) => {
        if (o.kind === 'boot' && o.fields && rig.devices[o.source]) this.firmware.set(o.source, [o.fields.fw, o.fields.ver].filter((x) => x !== undefined).join(' '));
      },
      { name: 'firmware from boot lines' },
    );
    this.stopNotes = log.on(
      'harness.note',
      (o) => {
        const what = o.fields?.what;
        if (this.current && typeof what === 'string' && what !== '') this.current.notes.push(what);
      },
      { name: 'test notes' },
    );
  }

  /**
   * Hear about the first write that fails (a full disk): the reserve is already given back, so the
   * run can still record its end. Returns the unsubscribe function.
   */
  onWriteFailure(listener: (error: Error) => void): () => void {
    this.writeFailureListeners.add(listener);
    return () => this.writeFailureListeners.delete(listener);
  }

  private writeFailed(error: Error): void {
    if (this.writeFailure) return;
    this.writeFailure = error;
    this.releaseReserve();
    for (const l of [...this.writeFailureListeners]) l(error);
  }

  private releaseReserve(): void {
    try {
      fs.rmSync(this.reservePath, { force: true });
    } catch {
      // nothing more to give back
    }
  }

  /** Observations left out of observations.jsonl per device whose cap was reached. */
  observationsLeftOut(): Map<string, number> {
    return this.observations.leftOut();
  }

  /** `setup.csv`: one row per attempt of a bench preparation step (runSetupSteps' onAttempt). */
  recordSetupAttempt(a: AttemptReport): void {
    this.report.addSetupAttempt({
      step: a.step,
      attempt: a.attempt.attempt,
      command: a.command,
      outcome: a.attempt.outcome,
      ...(a.attempt.code !== null ? { code: a.attempt.code } : {}),
      ...(a.attempt.signal !== null ? { signal: a.attempt.signal } : {}),
      // Called as the attempt ends: it started its duration ago.
      hostStartNs: this.log.clock.now() - BigInt(Math.round(a.attempt.ms * 1e6)),
      durationMs: a.attempt.ms,
      outputLines: a.outputLines,
      outputTail: a.tail.join('\n'),
    });
  }

  /** A note about the whole run (a takeover warning): on the next test's row, the first one when it comes before any test. */
  addRunNote(note: string): void {
    this.pendingRunNotes.push(note);
  }

  /** A test starts; `name` splits its full title into suite and own title (default: all in `test`). */
  begin(title: string, scenario: string, name: TestName = { test: title }): TestRecord {
    // What the run as a whole could not judge goes on its first test's row.
    const notes = this.pendingRunNotes;
    this.pendingRunNotes = [];
    this.current = { title, name, scenario, window: this.monitor.beginWindow(title), startedNs: this.log.clock.now(), notes };
    return this.current;
  }

  /** Close the test's invariant window (once); the result is kept on the record. */
  async closeWindow(t: TestRecord): Promise<WindowResult> {
    t.result ??= await this.monitor.endWindow(t.window);
    return t.result;
  }

  /** Decide the verdict and write the test's rows, once: a second call gets the first's verdict. */
  finish(t: TestRecord, outcome: { error?: unknown; timedOut?: boolean; interrupted?: boolean }): Promise<TestVerdict> {
    if (t.verdict) return Promise.resolve(t.verdict);
    if (!t.finishing) {
      const p = (async () => {
        const { result, notes } = leaveOutUnjudged(await this.closeWindow(t), t.property?.unjudged);
        t.notes.push(...notes);
        // Finished meanwhile by finishNow (a second Ctrl-C while the window settled).
        return t.verdict ?? this.write(t, result, decideVerdict(result.violations, outcome));
      })();
      t.finishing = p;
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    }
    return t.finishing;
  }

  /** Wait for every {@link finish} in progress (a run closing while a test's window settles). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Finish a test synchronously, for a process about to exit (a second Ctrl-C): its verdict row
   * from what is known now, without waiting for the invariant window to settle. Nothing when the
   * test already has its rows.
   */
  finishNow(t: TestRecord, verdict: TestVerdict['verdict'], reason: string): TestVerdict {
    return t.verdict ?? this.write(t, t.result ?? { ...EMPTY_RESULT }, { verdict, reasons: [reason] });
  }

  private write(t: TestRecord, result: WindowResult, decided: { verdict: TestVerdict['verdict']; reasons: string[] }): TestVerdict {
    // Notes made up to the end of the test (the last may not have been dispatched yet).
    this.log.flush();
    if (this.current === t) this.current = undefined;
    const durationMs = Number(this.log.clock.now() - t.startedNs) / 1e6;
    const notes = [...t.notes, ...result.latency.filter((j) => j.standing === 'insufficient' && j.n > 0).map((j) => j.text)];
    const v: TestVerdict = { title: t.title, scenario: t.scenario, verdict: decided.verdict, reasons: decided.reasons, durationMs, violations: result.violations, result, notes };
    if (decided.verdict !== 'PASS') v.excerpt = this.excerpt(result);
    t.verdict = v;
    this.verdicts.push(v);
    try {
      this.writeRows(t, v);
    } catch (error) {
      this.writeFailed(error as Error);
      throw error;
    }
    return v;
  }

  /**
   * The device lines of a test's window within 1.5 s of its first violation (else its last lines),
   * at most 60, as `host ms  device | line`. Only what the log still holds in memory.
   */
  private excerpt(r: WindowResult): string[] {
    const devices = new Set(Object.keys(this.rig.devices));
    const at = r.violations.length ? r.violations.reduce((m, v) => (v.t < m ? v.t : m), r.violations[0]!.t) : undefined;
    const lines: string[] = [];
    for (let i = r.window.from; i < Math.min(r.window.to, this.log.nextIndex); i++) {
      const o = this.log.at(i);
      if (!o || o.text === undefined || !devices.has(o.source)) continue;
      if (at !== undefined && (o.t < at - 1_500_000_000n || o.t > at + 1_500_000_000n)) continue;
      lines.push(`${(Number(o.t - this.startNs) / 1e6).toFixed(3).padStart(12)}  ${o.source} | ${o.text}`);
    }
    if (at === undefined) return lines.slice(-60);
    // Centred on the violation: up to 40 lines before it, 20 after.
    const cut = lines.findIndex((l) => Number(l.trim().split(' ')[0]) > Number(at - this.startNs) / 1e6);
    const k = cut === -1 ? lines.length : cut;
    return lines.slice(Math.max(0, k - 40), k + 20);
  }

  /**
   * The run-level latency row: every percentile limit judged again over the samples of every test
   * of the run, so that a test of three presses neither passes nor fails a p95 by itself while the
   * run's hundreds of callbacks do. FAIL when the pooled samples show a limit broken (a `max`: any
   * sample over it); PASS otherwise, with a note per limit saying how it stands (within, or not
   * enough samples, n of N). No row when no test ran or the rig sets no latency limit.
   */
  private judgeRun(): TestVerdict | undefined {
    // An interrupted run is not judged as a whole: its last test was cut short.
    if (this.verdicts.length === 0 || this.verdicts.some((v) => v.verdict === 'ABORTED')) return undefined;
    // Bench preparation failed and no test ran: there is nothing to pool, and a PASS row would say otherwise.
    if (this.verdicts.every((v) => v.scenario === 'setup')) return undefined;
    const t = this.log.clock.now();
    const { latency: judged, violations } = judgeRunLatency(this.monitor.engine.config, this.verdicts.map((v) => v.result), t, this.log.nextIndex);
    if (judged.length === 0) return undefined;
    const title = RUN_LATENCY_TEST;
    const { verdict, reasons } = decideVerdict(violations);
    const result: WindowResult = { window: { from: 0, to: this.log.nextIndex, tFrom: 0n, tTo: t }, violations, stats: [], presses: [], requests: [], latency: judged, samples: [] };
    const notes = judged.filter((j) => j.standing !== 'beyond').map((j) => j.text);
    const v: TestVerdict = { title, scenario: 'run', verdict, reasons, durationMs: 0, violations, result, notes };
    this.verdicts.push(v);
    this.report.addTest({ scenario: 'run', test: title, outcome: verdict, violations: verdict === 'PASS' ? [] : reasons, notes });
    for (const j of judged) this.report.addLatency(latencyRow('run', 'run', { test: title }, j));
    for (const x of violations) this.report.addViolation({ test: title, invariant: x.invariant, device: x.device, hostTimeNs: x.t, detail: x.detail, ...this.evidence(x) });
    return v;
  }

  /**
   * What a violation rests on, for the reports: its press or request, and the host time of the
   * observation that showed it when that is not when it was judged (a missed deadline counts from
   * a press or a last heartbeat), so a drill-down can show both.
   */
  private evidence(x: Violation): Pick<ViolationRow, 'pressId' | 'evidenceNs'> {
    const id = x.pressId ?? x.requestId;
    const seen = this.log.at(x.at)?.t;
    return { ...(id !== undefined ? { pressId: id } : {}), ...(seen !== undefined && seen !== x.t ? { evidenceNs: seen } : {}) };
  }

  private writeRows(t: TestRecord, v: TestVerdict): void {
    const r = v.result;
    // The devices pressed or requested in this window, the busiest first: its stats fill the row.
    const stats = [...r.stats].sort((a, b) => b.presses + b.requests + b.events_queued - (a.presses + a.requests + a.events_queued));
    const main = stats[0];
    const sum = (k: 'presses' | 'requests' | 'events_queued' | 'events_processed' | 'events_dropped') => r.stats.reduce((n, s) => n + s[k], 0);
    const row: SummaryRow = {
      scenario: t.scenario,
      ...t.name,
      outcome: v.verdict,
      durationMs: v.durationMs,
      presses: sum('presses') + sum('requests'),
      eventsQueued: sum('events_queued'),
      eventsProcessed: sum('events_processed'),
      eventsDropped: sum('events_dropped'),
      ...(main?.max_depth !== undefined ? { maxDepth: main.max_depth } : {}),
      ...(main?.queue_capacity !== undefined ? { queueCapacity: main.queue_capacity } : {}),
      ...(main?.cb_p50_us !== undefined ? { cbP50Us: main.cb_p50_us } : {}),
      ...(main?.cb_p99_us !== undefined ? { cbP99Us: main.cb_p99_us } : {}),
      ...(main?.cb_max_us !== undefined ? { cbMaxUs: main.cb_max_us } : {}),
      ...(main?.proc_p50_ms !== undefined ? { procP50Ms: main.proc_p50_ms } : {}),
      ...(main?.proc_p99_ms !== undefined ? { procP99Ms: main.proc_p99_ms } : {}),
      ...(main?.press_to_edge_p50_ms !== undefined ? { pressToEdgeP50Ms: main.press_to_edge_p50_ms } : {}),
      ...(t.property?.seed !== undefined ? { seed: t.property.seed } : {}),
      ...(t.property?.path !== undefined ? { path: t.property.path } : {}),
      ...(t.property?.replayPath !== undefined ? { replayPath: t.property.replayPath } : {}),
      violations: v.verdict === 'PASS' ? [] : v.reasons,
      notes: v.notes,
    };
    this.report.addTest(row);
    for (const j of r.latency) this.report.addLatency(latencyRow('test', t.scenario, t.name, j));
    for (const p of r.presses) this.report.addEvent(pressEvent(t.name, p));
    for (const q of r.requests) this.report.addEvent(requestEvent(t.name, q));
    this.trace.addTestRows(t.title, r.presses, r.requests);
    for (const x of r.violations) {
      this.report.addViolation({ ...t.name, invariant: x.invariant, device: x.device, hostTimeNs: x.t, detail: x.detail, ...this.evidence(x), ...(t.property?.counterexample ? { counterexample: t.property.counterexample } : {}) });
    }
    // A test that failed on its own (an expectation, a timeout) has no violation row otherwise.
    if (r.violations.length === 0 && v.verdict !== 'PASS') {
      this.report.addViolation({ ...t.name, invariant: `test ${v.verdict.toLowerCase()}`, detail: v.reasons.join('; '), ...(t.property?.counterexample ? { counterexample: t.property.counterexample } : {}) });
    }
  }

  /**
   * A test that never ran because a hook covering it failed or the bench was gone: its row, with
   * the verdict the cause deserves, so no test is ever missing from the reports.
   */
  recordNotRun(title: string, scenario: string, verdict: TestVerdict['verdict'], reasons: string[]): TestVerdict {
    const v: TestVerdict = { title, scenario, verdict, reasons, durationMs: 0, violations: [], result: { ...EMPTY_RESULT }, notes: [] };
    this.verdicts.push(v);
    this.report.addTest({ scenario, test: title, outcome: verdict, durationMs: 0, violations: reasons });
    this.report.addViolation({ test: title, invariant: `test ${verdict.toLowerCase()}`, detail: reasons.join('; ') });
    return v;
  }

  /**
   * Death lines no test could take (one after a test's body returned and its window closed, or
   * between two tests): one run-level FAIL row, so summary.csv, violations.csv, junit.xml and the
   * report say it, not only the console. (A rig fault between tests gets none: when the bench is
   * lost, every later test is ERROR with the cause already, and a row beside them would count it
   * twice.)
   */
  recordDeathsBetweenTests(deaths: ReadonlyArray<{ source: string; message: string }>): void {
    if (deaths.length === 0) return;
    const title = 'forbidden line between tests';
    const reasons = deaths.map((d) => d.message);
    this.verdicts.push({ title, scenario: 'run', verdict: 'FAIL', reasons, durationMs: 0, violations: [], result: { ...EMPTY_RESULT }, notes: [] });
    this.report.addTest({ scenario: 'run', test: title, outcome: 'FAIL', durationMs: 0, violations: reasons });
    for (const d of deaths) this.report.addViolation({ test: title, invariant: 'death-pattern', device: d.source, detail: d.message });
  }

  private junitProperties(): Array<[string, string]> {
    const props: Array<[string, string]> = [['rig', this.rig.name], ['run_id', this.runId]];
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(this.dir, 'run.json'), 'utf8')) as { seed?: number | null; fault?: string | null; rigFile?: string };
      if (meta.rigFile) props.push(['rig_file', meta.rigFile]);
      props.push(['seed', meta.seed === null || meta.seed === undefined ? 'default' : String(meta.seed)]);
      props.push(['fault', meta.fault ?? 'none']);
    } catch {
      // no run.json (a recorder used on its own): rig and run id only
    }
    for (const [device, fw] of this.firmware) props.push([`firmware.${device}`, fw]);
    return props;
  }

  /** A bench preparation step that failed: one ERROR row, its output as the violation detail. */
  recordSetupFailure(step: string, message: string, verdict: 'ERROR' | 'ABORTED' = 'ERROR'): void {
    const empty: WindowResult = { ...EMPTY_RESULT };
    const title = `bench preparation: ${step}`;
    this.verdicts.push({ title, scenario: 'setup', verdict, reasons: [message], durationMs: 0, violations: [], result: empty, notes: [] });
    this.report.addTest({ scenario: 'setup', test: title, outcome: verdict, violations: [message] });
    this.report.addViolation({ test: title, invariant: 'bench preparation', detail: message });
  }

  /** Judge the run's pooled latency, flush and close every file, write junit.xml. Safe to call twice; never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopNotes();
    this.stopBoots();
    try {
      this.judgeRun();
    } catch {
      // the files below still get closed
    }
    try {
      this.monitor.close();
    } catch {
      // closing continues
    }
    for (const f of [() => this.observations.close(), () => this.timedSerial.close(), () => this.trace.close(), () => this.report.close()]) {
      try {
        f();
      } catch {
        // closing continues
      }
    }
    this.releaseReserve();
    const cases: JunitCase[] = this.verdicts.map((v) => ({
      classname: v.scenario,
      name: v.title,
      timeMs: v.durationMs,
      verdict: v.verdict,
      message: v.reasons.join('\n'),
      ...(v.excerpt?.length ? { systemOut: `consoles around the failure (host ms since the run start; full logs: serial/*.timed.log)\n${v.excerpt.join('\n')}` } : {}),
    }));
    try {
      writeJunit(path.join(this.dir, 'junit.xml'), `hil ${this.rig.name} ${this.runId}`, cases, this.junitProperties());
    } catch {
      // nothing more to do on the way out
    }
  }
}

function latencyRow(scope: 'test' | 'run', scenario: string, name: TestName, j: LatencyJudgement): LatencyRow {
  return {
    scope,
    scenario,
    ...name,
    device: j.device,
    measure: j.measure,
    percentile: j.p,
    n: j.n,
    ...(j.estimate !== undefined ? { estimate: j.estimate } : {}),
    ...(j.lo !== undefined ? { lo: j.lo } : {}),
    ...(j.hi !== undefined ? { hi: j.hi } : {}),
    limit: j.limit,
    unit: j.unit,
    confidence: j.confidence,
    standing: j.standing,
    needed: j.needed,
  };
}

function pressEvent(name: TestName, p: PressRow): EventRow {
  return {
    ...name,
    pressId: p.press_id,
    device: p.device,
    button: p.button,
    outcome: p.outcome satisfies RowOutcome,
    hostPressNs: p.press_t,
    ...(p.release_t !== undefined ? { hostReleaseNs: p.release_t } : {}),
    ...times(p),
    ...(p.press_to_edge_ms !== undefined ? { pressToEdgeMs: p.press_to_edge_ms } : {}),
  };
}

function requestEvent(name: TestName, q: RequestRow): EventRow {
  return {
    ...name,
    pressId: q.request_id,
    device: q.device,
    button: `${q.method} ${q.path}`,
    outcome: q.outcome satisfies RowOutcome,
    hostPressNs: q.request_t,
    ...(q.response_t !== undefined ? { hostReleaseNs: q.response_t } : {}),
    ...times(q),
  };
}

function times(e: PressRow | RequestRow): Partial<EventRow> {
  const out: Partial<EventRow> = {};
  if (e.edge_us !== undefined) out.devEdgeUs = e.edge_us;
  if (e.cb_us !== undefined) out.devCbUs = e.cb_us;
  if (e.queued_us !== undefined) out.devQueuedUs = e.queued_us;
  if (e.taken_us !== undefined) out.devTakenUs = e.taken_us;
  if (e.done_us !== undefined) out.devDoneUs = e.done_us;
  if (e.edge_host) out.hostEdgeNs = e.edge_host.t;
  if (e.cb_host) out.hostCbNs = e.cb_host.t;
  if (e.queued_host) out.hostQueuedNs = e.queued_host.t;
  if (e.taken_host) out.hostTakenNs = e.taken_host.t;
  if (e.done_host) out.hostDoneNs = e.done_host.t;
  const err = [e.edge_host, e.cb_host, e.queued_host, e.taken_host, e.done_host].find((h) => h !== undefined);
  if (err) out.clockErrUs = err.errNs / 1000;
  if (e.depth_after_put !== undefined) out.depthAfterPut = e.depth_after_put;
  if (e.cb_dur_us !== undefined) out.cbDurUs = e.cb_dur_us;
  if (e.edge_to_cb_us !== undefined) out.cbLatencyUs = e.edge_to_cb_us;
  if (e.wait_ms !== undefined) out.queueWaitMs = e.wait_ms;
  if (e.proc_ms !== undefined) out.procMs = e.proc_ms;
  return out;
}
