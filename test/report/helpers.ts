import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { Ajv } from 'ajv';
import type { TraceEvent } from '../../harness/report/trace.ts';
import { ReportWriter } from '../../harness/report/report-writer.ts';
import type { EventRow, SummaryRow, ViolationRow } from '../../harness/report/rows.ts';

/** A fresh temporary folder; removed by the returned cleanup. */
export function tempDir(prefix = 'hil-report-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A fresh temporary folder for each test of the calling suite, removed after it: call inside a
 * `describe`, read `.dir` inside the tests.
 */
export function tempDirPerTest(prefix = 'hil-report-'): { readonly dir: string } {
  let current: { dir: string; cleanup: () => void } | undefined;
  beforeEach(function () {
    current = tempDir(prefix);
  });
  afterEach(function () {
    current?.cleanup();
  });
  return {
    get dir(): string {
      if (!current) throw new Error('tempDirPerTest: read .dir inside a test');
      return current.dir;
    },
  };
}

/** A CSV file as header + rows of raw cells (no column mapping, so the header itself is checked). */
export function readCsv(file: string): { header: string[]; rows: string[][] } {
  const records = parse(fs.readFileSync(file, 'utf8'), { relax_column_count: false });
  return { header: records[0] ?? [], rows: records.slice(1) };
}

export const START_NS = 5_000_000_000_000n;
/** Host ns `ms` into the run. */
export const at = (ms: number): bigint => START_NS + BigInt(Math.round(ms * 1e6));

export const TRICKY = 'comma, "quote", new\nline, cr\rhere, tab\t, ünïcödé 漢字 😀, =formula';

export interface SyntheticRun {
  tests: SummaryRow[];
  events: EventRow[];
  violations: ViolationRow[];
}

/**
 * A small run: a passing burst with a drop, a failing test with a violation, a hung test with no
 * events, and a property test with seed/path/replay.
 */
export function syntheticRun(): SyntheticRun {
  const events: EventRow[] = [];
  let dev = 7_000_000;
  for (let k = 0; k < 12; k++) {
    const press = 100 + k * 25;
    const dropped = k === 9;
    const e: EventRow = {
      suite: 'bursts',
      test: 'burst of 12',
      pressId: k + 1,
      device: 'pi',
      button: k % 2 ? 'UP' : 'DOWN',
      outcome: dropped ? 'dropped' : 'processed',
      hostPressNs: at(press),
      hostReleaseNs: at(press + 10),
      devEdgeUs: dev + 1000,
      devCbUs: dev + 1000 + 40 + k * 7,
      hostEdgeNs: at(press + 1.25),
      hostCbNs: at(press + 1.3),
      // Mapping bounds from a tight fit to a useless one (±25 ms): the digits written must follow.
      clockErrUs: k < 8 ? 0.8 : k < 11 ? 85.5 : 25_000,
      depthAfterPut: Math.min(4, 1 + (k % 5)),
      cbDurUs: 30 + k,
    };
    if (!dropped) {
      Object.assign(e, {
        devQueuedUs: dev + 1000 + 45 + k * 7,
        devTakenUs: dev + 3000 + k * 100,
        devDoneUs: dev + 9000 + k * 150,
        hostQueuedNs: at(press + 1.35),
        hostTakenNs: at(press + 3.2),
        hostDoneNs: at(press + 9.4),
      });
    }
    events.push(e);
    dev += 25_000;
  }
  events.push({ test: 'http log, buffer', pressId: 'req-1', device: 'esp', button: 'POST /api/log?x=1,2', outcome: 'lost', hostPressNs: at(600) });
  return {
    tests: [
      { scenario: 'queue', suite: 'bursts', test: 'burst of 12', outcome: 'PASS', durationMs: 612.34, presses: 12, eventsQueued: 11, eventsProcessed: 11, eventsDropped: 1, maxDepth: 4, queueCapacity: 4, cbP50Us: 75.5, cbP99Us: 117, cbMaxUs: 117, procP50Ms: 6.5, procP99Ms: 7.6, pressToEdgeP50Ms: 1.25 },
      { scenario: 'http', test: 'http log, buffer', outcome: 'FAIL', durationMs: 80, presses: 1, violations: ['no-lost-requests', TRICKY] },
      { scenario: 'queue', test: 'hang "deadlock"', outcome: 'HUNG', durationMs: Number.NaN, rig: 'bench-2' },
      { scenario: 'model', test: 'model-based 漢字', outcome: 'PASS', seed: -1234567, path: '3:1:0', replayPath: 'reports/r1/replay/model.txt' },
    ],
    events,
    violations: [
      { test: 'http log, buffer', invariant: 'no-lost-requests', device: 'esp', hostTimeNs: at(700.5), detail: `request req-1 never answered\n${TRICKY}`, counterexample: '[Post("/api/log"), Power(off)]' },
      { test: 'hang "deadlock"', invariant: 'liveness', detail: 'no heartbeat for 1500 ms' },
    ],
  };
}

export function writeRun(dir: string, run: SyntheticRun, runId = 'run-1'): void {
  const w = new ReportWriter();
  w.open(dir, { runId, rig: 'sim', startNs: START_NS });
  try {
    for (const e of run.events) w.addEvent(e);
    for (const v of run.violations) w.addViolation(v);
    for (const t of run.tests) w.addTest(t);
  } finally {
    w.close();
  }
}

const SCHEMA = JSON.parse(fs.readFileSync(new URL('./fixtures/trace-event.schema.json', import.meta.url), 'utf8')) as object;
// strictRequired off: the per-phase `then` branches require properties declared at the top level.
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(SCHEMA);

/** Check a trace file against the trace-event schema; returns its events. An unclosed array is allowed (the format allows a missing `]`). */
export function validTrace(file: string): TraceEvent[] {
  let text = fs.readFileSync(file, 'utf8').trimEnd();
  if (!text.endsWith(']')) text += '\n]';
  const events: unknown = JSON.parse(text);
  if (!validate(events)) throw new Error(`${file} is not a valid trace: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`);
  return events as TraceEvent[];
}

