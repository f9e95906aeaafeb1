import fs from 'node:fs';
import { WholeAppender } from './_internals/csv-file.ts';
import type { HostPlacement } from '../core/invariants/epoch-fits.ts';
import type { PressRow, RequestRow } from '../core/invariants/report.ts';
import type { Observation } from '../core/observation.ts';
import { Priority, type ObservationLog } from '../core/observation-log.ts';
import { INVARIANTS_SOURCE } from '../core/invariants/monitor.ts';
import { FlushTimer } from './_internals/flush-timer.ts';

export const TRACE_FILE = 'trace.json';

/**
 * One event of the Chrome trace-event format (the JSON that ui.perfetto.dev and chrome://tracing
 * open): `ph` is the phase (X complete slice, i instant, C counter, b/e async span, M metadata),
 * `ts`/`dur` in µs, `pid`/`tid` the track.
 */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'C' | 'b' | 'e' | 'M';
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  cat?: string;
  id?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, string | number>;
}

export interface TraceWriterOptions {
  /** Host ns that is ts 0 (the run's start, as in the CSV files). */
  startNs: bigint;
  /** The rig's devices: one process each in the trace, the host is another. */
  devices: readonly string[];
  /** Longest an event waits in memory before it is written, ms of the log's clock. Default 500. */
  flushMs?: number;
  /** Serial lines written as instant events at most; later ones are counted in a last event. Default 500,000. */
  maxSerialLines?: number;
  /**
   * A write failed (a full disk): what was whole stays, nothing more is written, and this hears
   * about it once. Without it the error is thrown from the write.
   */
  onError?: (error: Error) => void;
}

const HOST_PID = 1;
/** Host threads. */
const HOST = { tests: 1, relays: 2, power: 3, http: 4, harness: 5 } as const;
/** Device threads that are not the firmware's own (those come from `thread=` of its heartbeats). */
const DEVICE = { console: 1, callback: 2, queue: 3, processor: 4 } as const;

/**
 * Writes `trace.json`: the run as a Chrome/Perfetto trace. Host process: the tests (one slice
 * each), relay presses (press → release), power, HTTP requests (request → response), harness
 * notes. One process per device: its serial lines as instant events (at their host arrival), its
 * queue depth as a counter at every put, take and refusal, its threads (from `thread=` in its
 * heartbeats, one track each), and per press or request the device's own events placed on the
 * host clock through the clock mapping: edge → callback done, queued → taken (async, they
 * overlap), taken → done, each with the mapping's error bound and the device times in its args.
 *
 * Written in the JSON array form, one event per line, as the run goes: the format lets the closing
 * `]` be missing, so an interrupted run still leaves a trace that opens. Device spans are added
 * per test ({@link addTestRows}), when the test's rows are final.
 */
export class TraceWriter {
  private fd: number | undefined;
  private buffer: string[] = [];
  private readonly flushTimer: FlushTimer;
  private readonly unsubscribe: () => void;
  private readonly pids = new Map<string, number>();
  private readonly threads = new Map<string, number>();
  private readonly openTests = new Map<string, number>();
  private readonly openPresses = new Map<string, { ts: number; button: string }>();
  private readonly openRequests = new Map<string, { ts: number; what: string; device: string }>();
  private serialLines = 0;
  private readonly maxSerial: number;
  private readonly flushMs: number;
  private first = true;

  private out: WholeAppender | undefined;

  constructor(
    private readonly log: ObservationLog,
    readonly path: string,
    private readonly options: TraceWriterOptions,
  ) {
    this.flushMs = options.flushMs ?? 500;
    this.flushTimer = new FlushTimer(log.clock, this.flushMs, () => this.flush());
    this.maxSerial = options.maxSerialLines ?? 500_000;
    try {
      this.fd = fs.openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} already exists; a run folder is written once (use a new run id)`, { cause: error });
      throw error;
    }
    fs.writeSync(this.fd, '[\n');
    this.meta(HOST_PID, 0, 'process_name', 'host (harness)');
    this.meta(HOST_PID, 0, 'process_sort_index', 0);
    for (const [name, tid] of Object.entries(HOST)) this.meta(HOST_PID, tid, 'thread_name', name);
    options.devices.forEach((d, k) => {
      const pid = HOST_PID + 1 + k;
      this.pids.set(d, pid);
      this.meta(pid, 0, 'process_name', `device ${d}`);
      this.meta(pid, 0, 'process_sort_index', k + 1);
      for (const [name, tid] of Object.entries(DEVICE)) this.meta(pid, tid, 'thread_name', name);
    });
    this.unsubscribe = log.on('*', (o) => this.observe(o), { priority: Priority.REPORT, name: 'trace.json' });
  }

  private us(t: bigint): number {
    return Number(t - this.options.startNs) / 1000;
  }

  private meta(pid: number, tid: number, name: string, value: string | number): void {
    this.emit({ name, ph: 'M', ts: 0, pid, tid, args: name.endsWith('sort_index') ? { sort_index: value } : { name: value } });
  }

  /** The track of a firmware thread (`thread=irq` in a heartbeat), made on first sight. */
  private threadTid(device: string, pid: number, thread: string): number {
    const key = `${device}\u0000${thread}`;
    let tid = this.threads.get(key);
    if (tid === undefined) {
      tid = 10 + [...this.threads.keys()].filter((k) => k.startsWith(`${device}\u0000`)).length;
      this.threads.set(key, tid);
      this.meta(pid, tid, 'thread_name', `thread ${thread}`);
    }
    return tid;
  }

  private observe(o: Observation): void {
    const ts = this.us(o.t);
    const f = o.fields ?? {};
    const pid = this.pids.get(o.source);
    if (pid !== undefined) {
      if (o.text !== undefined) {
        if (this.serialLines++ < this.maxSerial) this.emit({ name: o.kind === 'line' ? o.text.slice(0, 60) : o.kind, cat: 'serial', ph: 'i', s: 't', ts, pid, tid: DEVICE.console, args: { text: o.text, ...(o.tDev !== undefined ? { dev_us: o.tDev } : {}) } });
      }
      // Every depth sample: put, take, refusal, and the depth a heartbeat reports.
      if ((o.kind === 'q_put' || o.kind === 'q_get' || o.kind === 'q_drop' || o.kind === 'hb') && typeof f.depth === 'number') {
        this.emit({ name: 'queue depth', cat: 'queue', ph: 'C', ts, pid, tid: 0, args: { depth: f.depth, ...(typeof f.cap === 'number' ? { capacity: f.cap } : {}) } });
        if (o.kind === 'q_drop') this.emit({ name: 'refused (queue full)', cat: 'queue', ph: 'i', s: 'p', ts, pid, tid: DEVICE.queue, args: { depth: f.depth, ...f } });
      }
      if (o.kind === 'hb' && typeof f.thread === 'string') {
        this.emit({ name: 'heartbeat', cat: 'thread', ph: 'i', s: 't', ts, pid, tid: this.threadTid(o.source, pid, f.thread), args: { ...f, ...(o.tDev !== undefined ? { dev_us: o.tDev } : {}) } });
      }
      if (o.kind === 'boot') this.emit({ name: 'boot', cat: 'power', ph: 'i', s: 'p', ts, pid, tid: DEVICE.console, args: { ...f } });
      return;
    }
    if (o.source === INVARIANTS_SOURCE) {
      const name = String(f.name ?? '');
      if (o.kind === 'window_start') this.openTests.set(name, ts);
      else if (o.kind === 'window_end') {
        const from = this.openTests.get(name);
        this.openTests.delete(name);
        if (from !== undefined) this.emit({ name, cat: 'test', ph: 'X', ts: from, dur: ts - from, pid: HOST_PID, tid: HOST.tests });
      } else if (o.kind === 'violation') {
        const dpid = this.pids.get(String(f.device ?? '')) ?? HOST_PID;
        this.emit({ name: `violation: ${String(f.invariant ?? '?')}`, cat: 'violation', ph: 'i', s: 'p', ts, pid: dpid, tid: dpid === HOST_PID ? HOST.tests : DEVICE.console, args: { ...f } });
      }
      return;
    }
    if (o.source === 'buttons' && (o.kind === 'press' || o.kind === 'release')) {
      const id = String(f.press_id ?? '');
      if (o.kind === 'press') this.openPresses.set(id, { ts, button: String(f.button ?? '') });
      else {
        const p = this.openPresses.get(id);
        this.openPresses.delete(id);
        if (p) this.emit({ name: `press ${p.button}`, cat: 'relay', ph: 'X', ts: p.ts, dur: ts - p.ts, pid: HOST_PID, tid: HOST.relays, args: { press_id: id, button: p.button } });
      }
      return;
    }
    if (o.source === 'power' && (o.kind === 'on' || o.kind === 'off')) {
      this.emit({ name: `power ${o.kind} ${String(f.device ?? '')}`, cat: 'power', ph: 'i', s: 'g', ts, pid: HOST_PID, tid: HOST.power, args: { ...f } });
      return;
    }
    if (o.source === 'http') {
      const id = String(f.request_id ?? '');
      if (o.kind === 'request') this.openRequests.set(id, { ts, what: `${String(f.method ?? '')} ${String(f.path ?? '')}`, device: String(f.device ?? '') });
      else if (o.kind === 'response' || o.kind === 'error') {
        const r = this.openRequests.get(id);
        this.openRequests.delete(id);
        if (r) this.emit({ name: r.what, cat: 'http', ph: 'X', ts: r.ts, dur: ts - r.ts, pid: HOST_PID, tid: HOST.http, args: { request_id: id, device: r.device, ...f } });
      }
      return;
    }
    if (o.source === 'harness' && (o.kind === 'note' || o.kind === 'recovery' || o.kind === 'refused')) {
      this.emit({ name: o.kind === 'note' ? String(f.what ?? 'note').slice(0, 60) : o.kind, cat: 'harness', ph: 'i', s: 't', ts, pid: HOST_PID, tid: HOST.harness, args: { ...f } });
      return;
    }
    if (o.kind === 'release_all' || o.kind === 'takeover' || o.kind === 'reset' || o.kind === 'lost') {
      this.emit({ name: `${o.source} ${o.kind}`, cat: 'relay', ph: 'i', s: 't', ts, pid: HOST_PID, tid: HOST.relays, args: { ...f } });
    }
  }

  /**
   * A finished test's presses and requests: the device's events placed on the host clock. A span
   * is drawn only where both ends were placed; its args carry the device times and the mapping's
   * error bound (`err_us`), which also applies to where the span sits.
   */
  addTestRows(test: string, presses: readonly PressRow[], requests: readonly RequestRow[]): void {
    for (const p of presses) this.deviceSpans(test, p.device, `press ${p.press_id} ${p.button}`, String(p.press_id), p, p.outcome);
    for (const q of requests) this.deviceSpans(test, q.device, `${q.method} ${q.path} ${q.request_id}`, q.request_id, q, q.outcome);
  }

  private deviceSpans(test: string, device: string, what: string, id: string, e: PressRow | RequestRow, outcome: string): void {
    const pid = this.pids.get(device);
    if (pid === undefined) return;
    const span = (name: string, tid: number, a: HostPlacement | undefined, b: HostPlacement | undefined, devA: number | undefined, devB: number | undefined, async = false): void => {
      if (!a || !b) return;
      const ts = this.us(a.t);
      const err = Math.max(a.errNs, b.errNs) / 1000;
      const args = { what, test, outcome, err_us: +err.toFixed(1), ...(devA !== undefined ? { dev_from_us: devA } : {}), ...(devB !== undefined ? { dev_to_us: devB } : {}), ...(devA !== undefined && devB !== undefined ? { dev_dur_us: devB - devA } : {}) };
      if (async) {
        this.emit({ name, cat: 'queue', ph: 'b', id: `${device}:${id}`, ts, pid, tid, args });
        this.emit({ name, cat: 'queue', ph: 'e', id: `${device}:${id}`, ts: this.us(b.t), pid, tid });
      } else {
        this.emit({ name, cat: 'device', ph: 'X', ts, dur: Math.max(0, this.us(b.t) - ts), pid, tid, args });
      }
    };
    span(`callback ${what}`, DEVICE.callback, e.edge_host, e.cb_host, e.edge_us, e.cb_us);
    span(`queued ${what}`, DEVICE.queue, e.queued_host, e.taken_host, e.queued_us, e.taken_us, true);
    span(`processing ${what}`, DEVICE.processor, e.taken_host, e.done_host, e.taken_us, e.done_us);
  }

  private emit(e: TraceEvent): void {
    if (this.fd === undefined) return;
    // µs to the ns, without the float noise of a subtraction (65709.98000000045).
    if (e.dur !== undefined) e.dur = Math.round(e.dur * 1000) / 1000;
    this.buffer.push((this.first ? '' : ',\n') + JSON.stringify(e));
    this.first = false;
    this.flushTimer.due();
  }

  /** Write what is buffered now. */
  flush(): void {
    this.flushTimer.cancel();
    if (this.fd === undefined || this.buffer.length === 0) return;
    const buf = Buffer.from(this.buffer.join(''), 'utf8');
    this.buffer = [];
    this.out ??= new WholeAppender(this.fd, this.options.onError);
    this.out.append(buf);
  }

  /** Dispatch what the log still holds, write everything and the closing `]`. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    this.log.flush();
    this.unsubscribe();
    if (this.serialLines > this.maxSerial) {
      this.emit({ name: `${this.serialLines - this.maxSerial} more serial lines not in this trace (see serial/*.timed.log)`, ph: 'i', s: 'g', ts: this.us(this.log.clock.now()), pid: HOST_PID, tid: HOST.harness });
    }
    try {
      this.flush();
      if (!this.out?.failed) fs.writeSync(this.fd, '\n]\n');
    } catch (error) {
      // A disk that filled on the last write: the trace stays open-ended, as the format allows.
      if (!this.options.onError) throw error;
    } finally {
      const fd = this.fd;
      this.fd = undefined;
      fs.closeSync(fd);
    }
  }
}
