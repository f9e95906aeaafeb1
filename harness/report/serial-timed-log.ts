import fs from 'node:fs';
import { WholeAppender } from './_internals/csv-file.ts';
import path from 'node:path';
import type { Observation } from '../core/observation.ts';
import { Priority, type ObservationLog } from '../core/observation-log.ts';
import { INVARIANTS_SOURCE } from '../core/invariants/monitor.ts';
import { FlushTimer } from './_internals/flush-timer.ts';

/** `serial/<device>.timed.log`, next to the raw `serial/<device>.log`. */
export function timedLogName(device: string): string {
  return `${device}.timed.log`;
}

export interface TimedSerialLogOptions {
  /** Host ns every timestamp counts from (the run's start, as in the CSV files). */
  startNs: bigint;
  /** Longest a line waits in memory before it is written, ms of the log's clock. Default 200. */
  flushMs?: number;
  /**
   * A write failed (a full disk): what was whole stays, nothing more is written, and this hears
   * about it. Without it the error is thrown from the write.
   */
  onError?: (error: Error) => void;
}

/**
 * The companion of each raw serial log: every line a device printed, prefixed with its host
 * arrival time (ms since the run's start, as in the CSV files), and a marker line where each test
 * starts and ends. The raw `serial/<device>.log` stays byte for byte what the port delivered; this
 * one is for reading next to `events.csv`.
 *
 * ```
 *    13781.969  HIL 41 31684147 edge gpio=17 button=REACTOR_START
 *    13790.002  ---- test start: buttons: each one pressed … ----
 * ```
 *
 * It follows the observation log (serial lines, and the invariant windows that are the tests), so
 * a marker lands between exactly the lines the test's window does. Lines are batched and written
 * at most `flushMs` after they were dispatched; {@link close} writes the rest.
 */
export class TimedSerialLog {
  private readonly files = new Map<string, { fd: number; buffer: string[]; out: WholeAppender }>();
  private failed = false;
  private readonly unsubscribe: () => void;
  private readonly flushTimer: FlushTimer;
  private readonly flushMs: number;
  private closed = false;

  constructor(
    private readonly log: ObservationLog,
    readonly dir: string,
    devices: readonly string[],
    private readonly options: TimedSerialLogOptions,
  ) {
    this.flushMs = options.flushMs ?? 200;
    this.flushTimer = new FlushTimer(log.clock, this.flushMs, () => this.flush());
    fs.mkdirSync(dir, { recursive: true });
    for (const d of devices) {
      const file = path.join(dir, timedLogName(d));
      let fd: number;
      try {
        fd = fs.openSync(file, 'wx');
      } catch (error) {
        for (const f of this.files.values()) fs.closeSync(f.fd);
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${file} already exists; a run folder is written once (use a new run id)`, { cause: error });
        throw error;
      }
      this.files.set(d, { fd, buffer: [], out: new WholeAppender(fd, this.options.onError) });
    }
    this.unsubscribe = log.on('*', (o) => this.add(o), { priority: Priority.REPORT, name: 'serial timed logs' });
  }

  private stamp(t: bigint): string {
    return (Number(t - this.options.startNs) / 1e6).toFixed(3).padStart(12);
  }

  private add(o: Observation): void {
    if (o.source === INVARIANTS_SOURCE && (o.kind === 'window_start' || o.kind === 'window_end')) {
      const name = String(o.fields?.name ?? '');
      const line = `${this.stamp(o.t)}  ---- test ${o.kind === 'window_start' ? 'start' : 'end'}: ${name} ----\n`;
      for (const f of this.files.values()) f.buffer.push(line);
    } else {
      const f = this.files.get(o.source);
      if (!f || o.text === undefined) return;
      f.buffer.push(`${this.stamp(o.t)}  ${o.text}\n`);
    }
    this.flushTimer.due();
  }

  /** Write what is buffered now. */
  flush(): void {
    this.flushTimer.cancel();
    for (const f of this.files.values()) {
      if (f.buffer.length === 0) continue;
      const buf = Buffer.from(f.buffer.join(''), 'utf8');
      f.buffer = [];
      // One file that cannot be written stops them all: the disk is full for every one.
      if (!this.failed && !f.out.append(buf)) this.failed = true;
    }
  }

  /** Dispatch what the log still holds, write everything, close the files. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.log.flush();
    this.unsubscribe();
    try {
      this.flush();
    } finally {
      for (const f of this.files.values()) fs.closeSync(f.fd);
    }
  }
}
