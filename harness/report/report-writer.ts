import fs from 'node:fs';
import path from 'node:path';
import { CsvAppendFile } from './_internals/csv-file.ts';
import { diff, diffNsToMs, fixed, hostMappedMs, hostMs, integer, text, withinBound } from './_internals/format.ts';
import {
  EVENT_COLUMNS,
  ROW_OUTCOMES,
  LATENCY_COLUMNS,
  SETUP_COLUMNS,
  SUMMARY_COLUMNS,
  TEST_OUTCOMES,
  VIOLATION_COLUMNS,
  VIOLATION_LIST_SEPARATOR,
  type EventRow,
  type LatencyRow,
  type ReportMeta,
  type SetupRow,
  type SummaryRow,
  type ViolationRow,
} from './rows.ts';

export const SUMMARY_FILE = 'summary.csv';
export const EVENTS_FILE = 'events.csv';
export const VIOLATIONS_FILE = 'violations.csv';
/** Only in runs whose rig sets percentile limits. */
export const LATENCY_FILE = 'latency.csv';
/** Only in runs whose rig has setup steps. */
export const SETUP_FILE = 'setup.csv';

export type ReportWriterState = 'new' | 'open' | 'closed';

/**
 * Writes a run's `summary.csv`, `events.csv` and `violations.csv`. Headers are written at
 * {@link open}; every row is on disk (in the kernel) when its `add…` call returns, so a run that
 * is interrupted — SIGINT, a crash, even SIGKILL — leaves valid CSV files with every row added so
 * far.
 *
 * ```ts
 * const report = new ReportWriter();
 * report.open(dir, { runId, rig: 'sim', startNs: log.clock.now() });
 * try {
 *   report.addEvent({ test, pressId: 1, device: 'pi', button: 'UP', outcome: 'processed', hostPressNs, devEdgeUs, … });
 *   report.addTest({ scenario: 'queue', test, outcome: 'PASS', durationMs: 812 });
 * } finally {
 *   report.close();
 * }
 * ```
 */
export class ReportWriter {
  private stateNow: ReportWriterState = 'new';
  private meta: ReportMeta | undefined;
  private summary: CsvAppendFile | undefined;
  private events: CsvAppendFile | undefined;
  private violations: CsvAppendFile | undefined;
  private setup: CsvAppendFile | undefined;
  private latency: CsvAppendFile | undefined;
  private dirPath: string | undefined;

  get state(): ReportWriterState {
    return this.stateNow;
  }

  /** The run folder, once open. */
  get dir(): string | undefined {
    return this.dirPath;
  }

  /** Rows written so far, per file. */
  get counts(): { tests: number; events: number; violations: number } {
    return { tests: this.summary?.rows ?? 0, events: this.events?.rows ?? 0, violations: this.violations?.rows ?? 0 };
  }

  /** Create `dir` if needed and the three files with their header rows. Refuses existing files. */
  open(dir: string, meta: ReportMeta): void {
    this.require('new', 'open');
    if (!meta.runId) throw new RangeError(`ReportWriter.open: meta.runId must be a non-empty string; got ${JSON.stringify(meta.runId)}`);
    fs.mkdirSync(dir, { recursive: true });
    const opened: CsvAppendFile[] = [];
    try {
      this.summary = new CsvAppendFile(path.join(dir, SUMMARY_FILE), SUMMARY_COLUMNS);
      opened.push(this.summary);
      this.events = new CsvAppendFile(path.join(dir, EVENTS_FILE), EVENT_COLUMNS);
      opened.push(this.events);
      this.violations = new CsvAppendFile(path.join(dir, VIOLATIONS_FILE), VIOLATION_COLUMNS);
      opened.push(this.violations);
    } catch (error) {
      for (const f of opened) f.close();
      this.summary = this.events = this.violations = undefined;
      throw error;
    }
    this.meta = meta;
    this.dirPath = dir;
    this.stateNow = 'open';
  }

  addTest(row: SummaryRow): void {
    const { meta, file } = this.target('addTest', this.summary);
    if (!TEST_OUTCOMES.includes(row.outcome)) {
      throw new RangeError(`addTest: outcome must be one of ${TEST_OUTCOMES.join(', ')}; got ${JSON.stringify(row.outcome)} (test ${JSON.stringify(row.test)})`);
    }
    file.append([
      meta.runId,
      row.rig ?? meta.rig,
      row.scenario,
      row.suite ?? '',
      row.test,
      row.outcome,
      fixed(row.durationMs, 1),
      integer(row.presses),
      integer(row.eventsQueued),
      integer(row.eventsProcessed),
      integer(row.eventsDropped),
      integer(row.maxDepth),
      integer(row.queueCapacity),
      fixed(row.cbP50Us, 1),
      fixed(row.cbP99Us, 1),
      fixed(row.cbMaxUs, 1),
      fixed(row.procP50Ms, 3),
      fixed(row.procP99Ms, 3),
      fixed(row.pressToEdgeP50Ms, 3),
      text(row.seed),
      text(row.path),
      text(row.replayPath),
      (row.violations ?? []).join(VIOLATION_LIST_SEPARATOR),
      (row.notes ?? []).join(VIOLATION_LIST_SEPARATOR),
    ]);
  }

  addEvent(row: EventRow): void {
    const { meta, file } = this.target('addEvent', this.events);
    if (!ROW_OUTCOMES.includes(row.outcome)) {
      throw new RangeError(`addEvent: outcome must be one of ${ROW_OUTCOMES.join(', ')}; got ${JSON.stringify(row.outcome)} (press ${row.pressId})`);
    }
    const t0 = meta.startNs;
    const ms = (a: number | undefined) => (a === undefined ? undefined : a / 1000);
    const mapped = (t: bigint | undefined) => hostMappedMs(t, t0, row.clockErrUs);
    // A span from a relay command to a mapped device time carries the mapping's error; without a
    // mapping the edge time is the line's arrival on the host, measured to the µs.
    const spanMs = (x: number | undefined) => (row.clockErrUs === undefined ? fixed(x, 3) : withinBound(x, row.clockErrUs));
    file.append([
      meta.runId,
      row.suite ?? '',
      row.test,
      text(row.pressId),
      row.device,
      row.button,
      hostMs(row.hostPressNs, t0),
      hostMs(row.hostReleaseNs, t0),
      integer(row.devEdgeUs),
      integer(row.devCbUs),
      integer(row.devQueuedUs),
      integer(row.devTakenUs),
      integer(row.devDoneUs),
      mapped(row.hostEdgeNs),
      mapped(row.hostCbNs),
      mapped(row.hostQueuedNs),
      mapped(row.hostTakenNs),
      mapped(row.hostDoneNs),
      fixed(row.clockErrUs, 1),
      integer(row.depthAfterPut),
      spanMs(row.pressToEdgeMs ?? diffNsToMs(row.hostEdgeNs, row.hostPressNs)),
      fixed(row.cbLatencyUs ?? diff(row.devCbUs, row.devEdgeUs), 1),
      fixed(row.cbDurUs, 1),
      fixed(row.queueWaitMs ?? ms(diff(row.devTakenUs, row.devQueuedUs)), 3),
      fixed(row.procMs ?? ms(diff(row.devDoneUs, row.devQueuedUs)), 3),
      fixed(row.takenToDoneMs ?? ms(diff(row.devDoneUs, row.devTakenUs)), 3),
      spanMs(row.pressToDoneMs ?? diffNsToMs(row.hostDoneNs, row.hostPressNs)),
      row.outcome,
    ]);
  }

  addViolation(row: ViolationRow): void {
    const { meta, file } = this.target('addViolation', this.violations);
    file.append([row.suite ?? '', row.test, row.invariant, text(row.device), hostMs(row.hostTimeNs, meta.startNs), row.detail, text(row.counterexample), text(row.pressId), hostMs(row.evidenceNs, meta.startNs)]);
  }

  /** One attempt of a bench preparation step; `setup.csv` is created with the first. */
  addSetupAttempt(row: SetupRow): void {
    const { meta } = this.target('addSetupAttempt', this.summary);
    this.setup ??= new CsvAppendFile(path.join(this.dirPath!, SETUP_FILE), SETUP_COLUMNS);
    this.setup.append([
      meta.runId,
      row.step,
      String(row.attempt),
      row.command,
      row.outcome,
      integer(row.code),
      text(row.signal),
      hostMs(row.hostStartNs, meta.startNs),
      fixed(row.durationMs, 0),
      String(row.outputLines),
      row.outputTail,
    ]);
  }

  /** One percentile limit judged; `latency.csv` is created with the first. */
  addLatency(row: LatencyRow): void {
    const { meta } = this.target('addLatency', this.summary);
    this.latency ??= new CsvAppendFile(path.join(this.dirPath!, LATENCY_FILE), LATENCY_COLUMNS);
    const num = (x: number | undefined): string => (x === undefined ? '' : String(+x.toFixed(3)));
    this.latency.append([
      meta.runId,
      row.scope,
      row.scenario,
      row.suite ?? '',
      row.test,
      row.device,
      row.measure,
      String(row.percentile),
      String(row.n),
      num(row.estimate),
      num(row.lo),
      num(row.hi),
      String(row.limit),
      row.unit,
      String(row.confidence),
      row.standing,
      String(row.needed),
    ]);
  }

  /** Close the files. Safe to call in any state, any number of times. */
  close(): void {
    const files = [this.summary, this.events, this.violations, this.setup, this.latency];
    this.summary = this.events = this.violations = this.setup = this.latency = undefined;
    this.stateNow = 'closed';
    const errors: unknown[] = [];
    for (const f of files) {
      try {
        f?.close();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0] as Error;
  }

  private require(state: ReportWriterState, call: string): void {
    if (this.stateNow !== state) {
      throw new Error(`ReportWriter.${call}: the writer is ${this.stateNow}${this.dirPath ? ` (${this.dirPath})` : ''}; ${call} needs it ${state}`);
    }
  }

  private target(call: string, file: CsvAppendFile | undefined): { meta: ReportMeta; file: CsvAppendFile } {
    this.require('open', call);
    return { meta: this.meta!, file: file! };
  }
}
