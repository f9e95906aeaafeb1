/**
 * What one run's report files hold: the typed rows a {@link ReportWriter} accepts and the exact
 * columns of `summary.csv`, `events.csv` and `violations.csv`.
 *
 * Units are in the names. Host times are given as host monotonic ns (`bigint`, the clock every
 * observation is stamped with) and written as ms since the run's start ({@link ReportMeta.startNs}).
 * Device times are the device's own µs. Anything unknown is left out of the row and written as an
 * empty cell, never as `NaN` or `undefined`.
 *
 * Reviewers open these files in spreadsheets: a text cell that a spreadsheet would run as a
 * formula (one starting with `=`, `+`, `-`, `@`, a tab or a CR, as device text can) is written with
 * a leading `'`, and {@link readReport} takes it off again. Numbers are written as they are.
 */
import type { PressOutcome, RequestOutcome } from '../core/invariants/report.ts';

/** A test's verdict. Product failures (FAIL, HUNG) are kept apart from harness faults (ERROR, TIMEOUT, ABORTED). */
export type TestOutcome = 'PASS' | 'FAIL' | 'HUNG' | 'ERROR' | 'TIMEOUT' | 'ABORTED';
export const TEST_OUTCOMES: readonly TestOutcome[] = ['PASS', 'FAIL', 'HUNG', 'ERROR', 'TIMEOUT', 'ABORTED'];

/**
 * What became of one press (or HTTP request): the invariants' own words (core/invariants/report.ts),
 * written as they are. `lost` is only ever a press or request the device really lost; one cut by a
 * power cycle is `power_cut`, one sent while the device was off `device_off`, one still in flight
 * when the run ended `pending`.
 */
export type RowOutcome = PressOutcome | RequestOutcome;
export const ROW_OUTCOMES: readonly RowOutcome[] = ['processed', 'dropped', 'lost', 'duplicated', 'pending', 'power_cut', 'device_off', 'no_event', 'http_error'];

/** Written once per run, at {@link ReportWriter.open}. */
export interface ReportMeta {
  /** The run id (the report folder's name). */
  runId: string;
  /** The rig the run used. Each summary row may override it. */
  rig: string;
  /** Host monotonic ns the run started at; every `host_*_ms` column counts from it. */
  startNs: bigint;
}

/**
 * A test is named by its suite (the `describe` titles above it, joined by spaces as mocha joins
 * them; empty for a test outside any suite, and for the run-level and setup rows) and its own
 * title. The two are separate columns; {@link fullTestTitle} joins them back into mocha's full
 * title, which is what the console, `junit.xml` and `hil check` name a test by.
 */
export interface TestName {
  /** Default: empty. */
  suite?: string;
  test: string;
}

/** Mocha's full title of a test: its suite and its own title, joined by a space. */
export function fullTestTitle(row: { suite?: string; test: string }): string {
  return row.suite ? `${row.suite} ${row.test}` : row.test;
}

/** One row of `summary.csv`: one test. */
export interface SummaryRow extends TestName {
  scenario: string;
  outcome: TestOutcome;
  /** Default: {@link ReportMeta.rig}. */
  rig?: string;
  durationMs?: number;
  presses?: number;
  eventsQueued?: number;
  eventsProcessed?: number;
  eventsDropped?: number;
  maxDepth?: number;
  queueCapacity?: number;
  /** Callback duration percentiles, µs (the callback's own `cb dur_us=`, see {@link EventRow.cbDurUs}). */
  cbP50Us?: number;
  cbP99Us?: number;
  cbMaxUs?: number;
  /** Processing time percentiles, ms (put → done, see {@link EventRow.procMs}). */
  procP50Ms?: number;
  procP99Ms?: number;
  pressToEdgeP50Ms?: number;
  /** Property tests: the fast-check seed, path and replay file. Empty otherwise. */
  seed?: number | string;
  path?: string;
  replayPath?: string;
  /** Invariants violated during the test (names or short messages); written joined by `; `. */
  violations?: readonly string[];
  /** What the test noted for the reader (what resets cost, property run counts); joined by `; `. */
  notes?: readonly string[];
}

/** One row of `events.csv`: one press, or one HTTP request. */
export interface EventRow extends TestName {
  /** Press id, or the HTTP request id. */
  pressId: string | number;
  device: string;
  /** Button name, or the HTTP method and path (`POST /api/pump`). */
  button: string;
  outcome: RowOutcome;
  /** Host ns of the relay commands (or the request sent / response received). */
  hostPressNs?: bigint;
  hostReleaseNs?: bigint;
  /** Device µs of the input edge, callback done, put, get (taken by the processor) and done. */
  devEdgeUs?: number;
  devCbUs?: number;
  devQueuedUs?: number;
  devTakenUs?: number;
  devDoneUs?: number;
  /**
   * The same device times placed on the host timeline through the clock mapping. Written with no
   * more digits than {@link clockErrUs} supports (µs when the bound is ≤ 1 µs, down to whole ms
   * when it is ≤ 1 ms) and left empty when the bound is over 1 ms: the bound is still given.
   */
  hostEdgeNs?: bigint;
  hostCbNs?: bigint;
  hostQueuedNs?: bigint;
  hostTakenNs?: bigint;
  hostDoneNs?: bigint;
  /** ± error bound of that mapping, µs. */
  clockErrUs?: number;
  /** Queue depth right after the put (`q_put depth=`), or at the refused put for a drop. */
  depthAfterPut?: number;
  /** Host press → host edge, ms. Default: derived from the host times. */
  pressToEdgeMs?: number;
  /** Device edge → callback done, µs. Default: `devCbUs − devEdgeUs`. */
  cbLatencyUs?: number;
  /** The callback's own measured duration (`cb dur_us=`), µs. */
  cbDurUs?: number;
  /** Time spent queued (put → taken), ms. Default: `(devTakenUs − devQueuedUs) / 1000`. */
  queueWaitMs?: number;
  /**
   * Processing, put → done, ms: queue wait plus the processor's own work, the span the rig's
   * `processingMs` limit judges. Default: `(devDoneUs − devQueuedUs) / 1000`.
   */
  procMs?: number;
  /** The processor's own work, taken → done, ms. Default: `(devDoneUs − devTakenUs) / 1000`. */
  takenToDoneMs?: number;
  /** End to end, host press → host done, ms. Default: derived from the host times. */
  pressToDoneMs?: number;
}

/** One row of `violations.csv`. */
export interface ViolationRow extends TestName {
  invariant: string;
  device?: string;
  /** Host ns the violation was seen at. */
  hostTimeNs?: bigint;
  detail: string;
  /** For property tests: the shrunk counterexample (the command list as the replay log prints it). */
  counterexample?: string;
  /** The press or request it is about, as `press_id` in `events.csv` (a press id, or a request id). */
  pressId?: number | string;
  /**
   * Host ns of the observation it rests on, when that is not {@link hostTimeNs}: for a missed
   * deadline the press or last heartbeat it counts from, the deadline being when it was judged.
   */
  evidenceNs?: bigint;
}

export const SUMMARY_COLUMNS = [
  'run_id', 'rig', 'scenario', 'suite', 'test', 'outcome', 'duration_ms', 'presses', 'events_queued', 'events_processed', 'events_dropped',
  'max_depth', 'queue_capacity', 'cb_p50_us', 'cb_p99_us', 'cb_max_us', 'proc_p50_ms', 'proc_p99_ms', 'press_to_edge_p50_ms',
  'seed', 'path', 'replay_path', 'violations', 'notes',
] as const;

export const EVENT_COLUMNS = [
  'run_id', 'suite', 'test', 'press_id', 'device', 'button',
  'host_press_ms', 'host_release_ms',
  'dev_edge_us', 'dev_cb_us', 'dev_queued_us', 'dev_taken_us', 'dev_done_us',
  'host_edge_ms', 'host_cb_ms', 'host_queued_ms', 'host_taken_ms', 'host_done_ms', 'clock_err_us',
  'depth_after_put', 'press_to_edge_ms', 'cb_latency_us', 'cb_dur_us', 'queue_wait_ms', 'proc_ms', 'taken_to_done_ms', 'press_to_done_ms',
  'outcome',
] as const;

export const VIOLATION_COLUMNS = ['suite', 'test', 'invariant', 'device', 'host_time_ms', 'detail', 'counterexample', 'press_id', 'evidence_ms'] as const;

/** One row of `setup.csv`: one attempt of a rig's bench preparation step. */
export interface SetupRow {
  step: string;
  attempt: number;
  command: string;
  /** ok, failed, timeout or aborted. */
  outcome: string;
  code?: number;
  signal?: string;
  /** Host ns the attempt started at. */
  hostStartNs?: bigint;
  durationMs?: number;
  /** Lines the attempt printed (stdout and stderr). */
  outputLines: number;
  /** Its last lines, `out| ` / `err| ` prefixed, joined by newlines. */
  outputTail: string;
}

/**
 * One row of `latency.csv`: one percentile limit judged over one test's samples (`scope` test) or
 * over every sample of the run (`scope` run). `lo`/`hi` are one-sided order-statistic bounds at
 * `confidence`; `standing` is within, beyond or insufficient (with `needed` the samples a PASS needs).
 */
export interface LatencyRow extends TestName {
  scope: 'test' | 'run';
  scenario: string;
  device: string;
  measure: string;
  percentile: number;
  n: number;
  estimate?: number;
  lo?: number;
  hi?: number;
  limit: number;
  unit: string;
  confidence: number;
  standing: string;
  needed: number;
}
export const LATENCY_COLUMNS = ['run_id', 'scope', 'scenario', 'suite', 'test', 'device', 'measure', 'percentile', 'n', 'estimate', 'ci_low', 'ci_high', 'limit', 'unit', 'confidence', 'standing', 'needed'] as const;

export const SETUP_COLUMNS = ['run_id', 'step', 'attempt', 'command', 'outcome', 'code', 'signal', 'host_start_ms', 'duration_ms', 'output_lines', 'output_tail'] as const;

export type SummaryColumn = (typeof SUMMARY_COLUMNS)[number];
export type EventColumn = (typeof EVENT_COLUMNS)[number];
export type ViolationColumn = (typeof VIOLATION_COLUMNS)[number];
export type SetupColumn = (typeof SETUP_COLUMNS)[number];
export type LatencyColumn = (typeof LATENCY_COLUMNS)[number];

/** The separator of the `violations` column of `summary.csv`. */
export const VIOLATION_LIST_SEPARATOR = '; ';
