import { afterIo, systemClock, type Clock, type TimerHandle } from './clock.ts';
import { ExpectationError } from './errors.ts';
import type { FieldValue, NewObservation, Observation } from './observation.ts';
import { compileTopic, type TopicMatcher } from './topic.ts';

/** Subscriber priorities: higher runs first. Safety watchers must see a line before anyone else. */
export const Priority = { SAFETY: 100, INVARIANT: 50, DEFAULT: 0, REPORT: -50 } as const;

export interface SubscribeOptions {
  /** Higher runs first. Default {@link Priority.DEFAULT} (0). */
  priority?: number;
  /** Unsubscribe after the first matching observation. Default false. */
  once?: boolean;
  /** Name used in dead letters and metrics. Default: the topic pattern. */
  name?: string;
}

export type Subscriber = (o: Observation) => void;

/** A subscriber that threw. Recorded, reported, never rethrown into the run. */
export interface DeadLetter {
  subscriber: string;
  observation: Observation;
  error: unknown;
  t: bigint;
}

/**
 * What to wait for. All given criteria must hold. A string is a topic pattern (`pi.q_put`).
 */
export interface Expectation {
  /** Topic pattern `source.kind` with `*` globs. Default `*`. */
  topic?: string;
  /** Regular expression or substring the line text must contain. */
  text?: RegExp | string;
  /** Fields that must be equal (or match, for a RegExp). */
  fields?: Record<string, FieldValue | RegExp>;
  /** Any further predicate. */
  where?: (o: Observation) => boolean;
  /** How to name this expectation in messages. Default: built from the criteria. */
  describe?: string;
}
export type ExpectationLike = Expectation | string;

export interface WaitOptions {
  /** Deadline in ms on the log's clock. Required: every wait has one. */
  within: number;
  /** First log index to consider; earlier lines can be matched (look-back). Default: the next index (only new). */
  from?: number;
  /** Abort early (Ctrl-C, a death pattern). */
  signal?: AbortSignal;
}

/** A matched expectation. */
export interface Match {
  observation: Observation;
  index: number;
  t: bigint;
}

/** Information about a source, used in failure messages. */
export interface SourceInfo {
  /** Path of the raw per-port log that holds every byte. */
  rawLog?: string;
}

export interface ObservationLogOptions {
  /** Clock for deadlines. Default: the host monotonic clock. */
  clock?: Clock;
  /** Observations kept in memory (older ones leave the window; counters keep counting). Default 65,536. */
  window?: number;
  /** How dispatch is deferred after an append. Default `setImmediate`. */
  schedule?: (fn: () => void) => void;
  /** Observations dispatched before yielding to I/O. Default 256. */
  dispatchSlice?: number;
}

interface Sub {
  matcher: TopicMatcher;
  fn: Subscriber;
  priority: number;
  once: boolean;
  name: string;
  order: number;
  active: boolean;
  calls: number;
  sampledNs: bigint;
  sampled: number;
}

interface Waiter {
  test: (o: Observation) => boolean;
  next: number;
  resolve: (m: Match) => void;
  reject: (e: unknown) => void;
  timer: TimerHandle | undefined;
  done: boolean;
}

/** Per-source counters that survive the window. */
export interface SourceCounters {
  observations: number;
  lines: number;
  firstT: bigint;
  lastT: bigint;
  kinds: Map<string, number>;
}

export interface LogMetrics {
  observations: number;
  windowStart: number;
  pendingDispatch: number;
  deadLetters: number;
  sources: Record<string, { observations: number; lines: number; linesPerSec: number; reconnects: number; kinds: Record<string, number> }>;
  /** Subscriber time is sampled (1 call in 16 is timed) to keep the hot path cheap. */
  subscribers: Array<{ name: string; calls: number; estimatedMs: number }>;
}

const SAMPLE_MASK = 15;

/**
 * The single record of a run: an append-only, indexed log of observations with a bounded
 * in-memory window, topic subscriptions and non-consuming expectations.
 *
 * Appending is cheap and never runs subscribers: they run after, in a deferred dispatch (the
 * firmware's own event-queue discipline). A subscriber that throws becomes a dead letter.
 */
export class ObservationLog {
  readonly clock: Clock;
  private readonly ring: Array<Observation | undefined>;
  private readonly windowSize: number;
  private count = 0;
  private dispatched = 0;
  private scheduled = false;
  private dispatching = false;
  private readonly schedule: (fn: () => void) => void;
  private readonly slice: number;
  private subs: Sub[] = [];
  private subOrder = 0;
  private routeCache = new Map<string, Map<string, Sub[]>>();
  private waiters = new Set<Waiter>();
  private readonly counters = new Map<string, SourceCounters>();
  private readonly sourceInfo = new Map<string, SourceInfo>();
  readonly deadLetters: DeadLetter[] = [];
  /** Observations that left the window before subscribers saw them (should stay 0). */
  undispatched = 0;
  /** Waits settled so far (matched, timed out, failed or aborted). */
  private settled = 0;
  private readonly runDispatch = () => {
    this.scheduled = false;
    this.dispatch();
  };
  private readonly catchUpAt: number;

  constructor(options: ObservationLogOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.windowSize = options.window ?? 65_536;
    this.ring = new Array<Observation | undefined>(this.windowSize);
    this.schedule = options.schedule ?? ((fn) => void setImmediate(fn));
    this.slice = options.dispatchSlice ?? 256;
    this.catchUpAt = Math.max(1, this.windowSize >> 1);
  }

  /** Index the next observation will get. Use it as `from` to look back from "now". */
  get nextIndex(): number {
    return this.count;
  }

  /** Lowest index still held in memory. */
  get windowStart(): number {
    return Math.max(0, this.count - this.windowSize);
  }

  /** Append an observation. O(1), never calls subscribers; returns it with its index. */
  append(o: NewObservation): Observation {
    const obs = o as Observation & { i: number };
    obs.i = this.count;
    this.ring[this.count % this.windowSize] = obs;
    this.count++;
    let c = this.counters.get(obs.source);
    if (!c) {
      c = { observations: 0, lines: 0, firstT: obs.t, lastT: obs.t, kinds: new Map() };
      this.counters.set(obs.source, c);
    }
    c.observations++;
    c.lastT = obs.t;
    if (obs.text !== undefined) c.lines++;
    c.kinds.set(obs.kind, (c.kinds.get(obs.kind) ?? 0) + 1);
    if (!this.dispatching) {
      if (this.count - this.dispatched >= this.catchUpAt) {
        // Subscribers are half a window behind: run them now rather than let observations they
        // have not seen leave the window. The reader pays, nothing is lost.
        this.dispatch(Infinity);
      } else if (!this.scheduled) {
        this.scheduled = true;
        this.schedule(this.runDispatch);
      }
    }
    return obs;
  }

  /** Shorthand for actions and notes the harness itself records. */
  record(source: string, kind: string, fields?: Record<string, FieldValue>, text?: string): Observation {
    return this.append({ t: this.clock.now(), source, kind, ...(fields ? { fields } : {}), ...(text !== undefined ? { text } : {}) });
  }

  /** The observation at index `i`, if it is still in the window. */
  at(i: number): Observation | undefined {
    if (i < this.windowStart || i >= this.count) return undefined;
    return this.ring[i % this.windowSize];
  }

  /** Observations in the window from `from` (clamped to the window) to the end. */
  *since(from = this.windowStart): IterableIterator<Observation> {
    for (let i = Math.max(from, this.windowStart); i < this.count; i++) yield this.ring[i % this.windowSize]!;
  }

  setSourceInfo(source: string, info: SourceInfo): void {
    this.sourceInfo.set(source, { ...this.sourceInfo.get(source), ...info });
  }

  getSourceInfo(source: string): SourceInfo | undefined {
    return this.sourceInfo.get(source);
  }

  counter(source: string): SourceCounters | undefined {
    return this.counters.get(source);
  }

  /** Sources seen so far. */
  get sources(): string[] {
    return [...this.counters.keys()];
  }

  /**
   * Subscribe to observations whose `source.kind` matches `topic`. Returns the unsubscribe
   * function.
   */
  on(topic: string, fn: Subscriber, options: SubscribeOptions = {}): () => void {
    const sub: Sub = {
      matcher: compileTopic(topic),
      fn,
      priority: options.priority ?? Priority.DEFAULT,
      once: options.once ?? false,
      name: options.name ?? topic,
      order: this.subOrder++,
      active: true,
      calls: 0,
      sampledNs: 0n,
      sampled: 0,
    };
    this.subs.push(sub);
    this.subs.sort((a, b) => b.priority - a.priority || a.order - b.order);
    this.routeCache.clear();
    return () => this.unsubscribe(sub);
  }

  /** Subscribe for the first matching observation only. */
  once(topic: string, fn: Subscriber, options: Omit<SubscribeOptions, 'once'> = {}): () => void {
    return this.on(topic, fn, { ...options, once: true });
  }

  private unsubscribe(sub: Sub): void {
    if (!sub.active) return;
    sub.active = false;
    this.subs = this.subs.filter((s) => s !== sub);
    this.routeCache.clear();
  }

  private route(o: Observation): Sub[] {
    let bySource = this.routeCache.get(o.source);
    if (!bySource) {
      bySource = new Map();
      this.routeCache.set(o.source, bySource);
    }
    let list = bySource.get(o.kind);
    if (!list) {
      list = this.subs.filter((s) => s.matcher(o.source, o.kind));
      bySource.set(o.kind, list);
    }
    return list;
  }

  /**
   * Run subscribers and waiters for everything appended so far, synchronously. Normally this
   * happens by itself right after the appending code yields; tests on a virtual clock call it.
   */
  flush(): void {
    this.dispatch(Infinity);
  }

  // A flush leaves a scheduled dispatch scheduled (it will find nothing to do): a reader that
  // flushes after every line then schedules one dispatch per turn of the event loop, not one a line.
  private dispatch(limit = this.slice): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      let n = 0;
      while (this.dispatched < this.count && n < limit) {
        // Only a subscriber appending a whole window in one call can get here; count the loss.
        if (this.dispatched < this.windowStart) {
          this.undispatched += this.windowStart - this.dispatched;
          this.dispatched = this.windowStart;
        }
        const o = this.ring[this.dispatched % this.windowSize]!;
        this.dispatched++;
        n++;
        const subs = this.route(o);
        for (let k = 0; k < subs.length; k++) {
          const s = subs[k]!;
          if (!s.active) continue;
          if (s.once) this.unsubscribe(s);
          this.call(s, o);
        }
        if (this.waiters.size > 0) this.checkWaiters(o);
      }
    } finally {
      this.dispatching = false;
    }
    if (this.dispatched < this.count && !this.scheduled) {
      this.scheduled = true;
      this.schedule(this.runDispatch);
    }
  }

  private call(s: Sub, o: Observation): void {
    const sample = (s.calls++ & SAMPLE_MASK) === 0;
    const t0 = sample ? process.hrtime.bigint() : 0n;
    try {
      s.fn(o);
    } catch (error) {
      this.deadLetters.push({ subscriber: s.name, observation: o, error, t: this.clock.now() });
    }
    if (sample) {
      s.sampledNs += process.hrtime.bigint() - t0;
      s.sampled++;
    }
  }

  private checkWaiters(o: Observation): void {
    for (const w of this.waiters) {
      if (o.i < w.next) continue;
      w.next = o.i + 1;
      let ok = false;
      try {
        ok = w.test(o);
      } catch (error) {
        this.settle(w, undefined, error);
        continue;
      }
      if (ok) this.settle(w, { observation: o, index: o.i, t: o.t });
    }
  }

  private settle(w: Waiter, match: Match | undefined, error?: unknown): void {
    if (w.done) return;
    w.done = true;
    this.settled++;
    this.waiters.delete(w);
    if (w.timer) this.clock.clearTimer(w.timer);
    if (match) w.resolve(match);
    else w.reject(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * Wait for an observation matching `expectation`, from index `from` (default: only new ones),
   * within `within` ms. Non-consuming: any number of waits can match the same observation.
   * Rejects with an {@link ExpectationError} that says what was expected, on which source, what
   * was seen instead and where the raw log is.
   */
  waitFor(expectation: ExpectationLike, options: WaitOptions): Promise<Match> {
    const exp = normalize(expectation);
    const test = compileExpectation(exp);
    const from = options.from ?? this.count;
    return new Promise<Match>((resolve, reject) => {
      const w: Waiter = { test, next: from, resolve, reject, timer: undefined, done: false };
      if (from < this.windowStart) {
        reject(new RangeError(`waitFor: index ${from} has left the in-memory window (oldest kept: ${this.windowStart}); raise the log window or wait from a later mark`));
        return;
      }
      if (options.signal?.aborted) {
        const reason: unknown = options.signal.reason;
        reject(reason instanceof Error ? reason : new Error(String(reason)));
        return;
      }
      // Look back over what is already in the log (dispatched or not).
      for (let i = from; i < this.count; i++) {
        const o = this.ring[i % this.windowSize]!;
        if (test(o)) {
          resolve({ observation: o, index: i, t: o.t });
          return;
        }
      }
      w.next = this.count;
      this.waiters.add(w);
      w.timer = this.clock.setTimer(() => {
        // Judged once what had already arrived is in: a process that was not run for a while
        // reaches this timer before it reads the line that came in time.
        afterIo(this.clock, () => {
          if (w.done) return;
          this.flush();
          if (!w.done) this.settle(w, undefined, this.timeoutError(exp, options.within, from));
        });
      }, options.within);
      options.signal?.addEventListener('abort', () => this.settle(w, undefined, options.signal?.reason), { once: true });
    });
  }

  /**
   * Wait for several expectations in order: each must match after the previous one. One
   * deadline for the whole sequence.
   */
  async waitForSequence(steps: ExpectationLike[], options: WaitOptions): Promise<Match[]> {
    const start = this.clock.now();
    const out: Match[] = [];
    let from = options.from ?? this.count;
    for (let k = 0; k < steps.length; k++) {
      const elapsedMs = Number(this.clock.now() - start) / 1e6;
      try {
        const m = await this.waitFor(steps[k]!, { ...options, from, within: Math.max(0, Math.round(options.within - elapsedMs)) });
        out.push(m);
        from = m.index + 1;
      } catch (error) {
        if (error instanceof ExpectationError) {
          error.message = `step ${k + 1} of ${steps.length} of a sequence: ${error.message}` + (out.length > 0 ? `; steps 1–${out.length} matched at #${out.map((m) => m.index).join(', #')}` : '');
        }
        throw error;
      }
    }
    return out;
  }

  /**
   * Expect that nothing matches during `during` ms (from `from`, default now). Resolves when the
   * time is up; rejects as soon as a match appears, naming it.
   */
  async expectNone(expectation: ExpectationLike, options: { during: number; from?: number; signal?: AbortSignal }): Promise<void> {
    const exp = normalize(expectation);
    const from = options.from ?? this.count;
    const t0 = this.clock.now();
    let match: Match;
    try {
      match = await this.waitFor(exp, { within: options.during, from, ...(options.signal ? { signal: options.signal } : {}) });
    } catch (error) {
      if (error instanceof ExpectationError) return;
      throw error;
    }
    const src = sourceOf(exp);
    const at = Number(match.t - t0) / 1e6;
    const info = src ? this.sourceInfo.get(src) : undefined;
    throw new ExpectationError(
      `expected no ${describe(exp)}${src ? ` on ${src}` : ''} during ${options.during} ms; saw at ${at >= 0 ? '+' : ''}${at.toFixed(1)} ms (#${match.index}): ${show(match.observation)}` +
        (info?.rawLog ? `; full log: ${info.rawLog}` : ''),
      { expected: `no ${describe(exp)}`, ...(src ? { source: src } : {}), withinMs: options.during, seen: [show(match.observation)], ...(info?.rawLog ? { rawLog: info.rawLog } : {}) },
    );
  }

  /** Reject every pending wait (optionally only those a filter selects) with `error`. */
  failWaiters(error: unknown): void {
    for (const w of [...this.waiters]) this.settle(w, undefined, error);
  }

  /** Number of waits pending. */
  get pendingWaits(): number {
    return this.waiters.size;
  }

  /**
   * Number of waits settled so far (matched, timed out, failed or aborted). A reader that sees it
   * move after a flush knows a wait's continuation is queued, and can yield before reading on.
   */
  get settledWaits(): number {
    return this.settled;
  }

  private timeoutError(exp: Expectation, withinMs: number, from: number): ExpectationError {
    const src = sourceOf(exp);
    const seen: Observation[] = [];
    let total = 0;
    for (const o of this.since(from)) {
      if (src && o.source !== src) continue;
      if (o.text === undefined && src) continue;
      total++;
      seen.push(o);
      if (seen.length > 5) seen.shift();
    }
    const info = src ? this.sourceInfo.get(src) : undefined;
    const what = src ? 'lines' : 'observations';
    const last = seen.length > 0 ? `; last ${seen.length}: ${seen.map(show).join(' | ')}` : '';
    return new ExpectationError(
      `expected ${describe(exp)}${src ? ` on ${src}` : ''} within ${withinMs} ms; saw ${total} ${what}${last}` + (info?.rawLog ? `; full log: ${info.rawLog}` : ''),
      {
        expected: describe(exp),
        ...(src ? { source: src } : {}),
        withinMs,
        seen: seen.map(show),
        ...(info?.rawLog ? { rawLog: info.rawLog } : {}),
      },
    );
  }

  metrics(): LogMetrics {
    const sources: LogMetrics['sources'] = {};
    for (const [name, c] of this.counters) {
      const secs = Number(c.lastT - c.firstT) / 1e9;
      sources[name] = {
        observations: c.observations,
        lines: c.lines,
        linesPerSec: secs > 0 ? c.lines / secs : 0,
        reconnects: c.kinds.get('reconnect') ?? 0,
        kinds: Object.fromEntries(c.kinds),
      };
    }
    return {
      observations: this.count,
      windowStart: this.windowStart,
      pendingDispatch: this.count - this.dispatched,
      deadLetters: this.deadLetters.length,
      sources,
      subscribers: this.subs.map((s) => ({
        name: s.name,
        calls: s.calls,
        estimatedMs: s.sampled > 0 ? (Number(s.sampledNs) / s.sampled / 1e6) * s.calls : 0,
      })),
    };
  }
}

function normalize(e: ExpectationLike): Expectation {
  return typeof e === 'string' ? { topic: e } : e;
}

/** The single source an expectation is about, if its topic names one. */
function sourceOf(e: Expectation): string | undefined {
  if (!e.topic) return undefined;
  const src = e.topic.split('.')[0]!;
  return src.includes('*') ? undefined : src;
}

export function describe(e: Expectation): string {
  if (e.describe) return e.describe;
  const parts: string[] = [];
  if (e.text !== undefined) parts.push(e.text instanceof RegExp ? String(e.text) : JSON.stringify(e.text));
  const kind = e.topic?.includes('.') ? e.topic.split('.').slice(1).join('.') : undefined;
  if (kind && kind !== '*') parts.push(`${kind}`);
  if (e.fields) parts.push(Object.entries(e.fields).map(([k, v]) => `${k}=${v instanceof RegExp ? String(v) : v}`).join(' '));
  if (e.where) parts.push('(predicate)');
  return parts.length > 0 ? parts.join(' ') : (e.topic ?? 'any observation');
}

export function compileExpectation(e: Expectation): (o: Observation) => boolean {
  const topic = e.topic ? compileTopic(e.topic) : undefined;
  // A /g or /y RegExp keeps state between test() calls; matching must not depend on history.
  const text = e.text instanceof RegExp && (e.text.global || e.text.sticky) ? new RegExp(e.text.source, e.text.flags.replace(/[gy]/g, '')) : e.text;
  const fields = e.fields ? Object.entries(e.fields) : undefined;
  const where = e.where;
  return (o) => {
    if (topic && !topic(o.source, o.kind)) return false;
    if (text !== undefined) {
      if (o.text === undefined) return false;
      if (text instanceof RegExp ? !text.test(o.text) : !o.text.includes(text)) return false;
    }
    if (fields) {
      const f = o.fields;
      if (!f) return false;
      for (const [k, want] of fields) {
        const got = f[k];
        if (got === undefined) return false;
        if (want instanceof RegExp ? !want.test(String(got)) : got !== want && String(got) !== String(want)) return false;
      }
    }
    return where ? where(o) : true;
  };
}

/** One observation as a short line for messages. */
export function show(o: Observation): string {
  if (o.text !== undefined) return o.text.length > 160 ? o.text.slice(0, 157) + '...' : o.text;
  const f = o.fields ? ' ' + Object.entries(o.fields).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  return `[${o.source}.${o.kind}${f}]`;
}
