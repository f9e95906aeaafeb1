// A tiny scripted bench for invariant tests: a panel (`pi`) and an ESP (`esp`) that print the
// telemetry their firmware prints (docs/telemetry.md), with device clocks offset from the host,
// a serial link delay, and heartbeats every 250 ms while a thread is alive. Each test scripts the
// healthy path and bends one thing.
import type { FieldValue, Observation } from '../../../harness/core/observation.ts';
import { resolveInvariantConfig, type InvariantConfig, type InvariantLimits } from '../../../harness/core/invariants/index.ts';

export const GPIO: Record<string, number> = { PRESSURE_UP: 12, PRESSURE_DOWN: 13, SHIM_ROD_UP: 24, PUMP_PRIMARY_ON: 16 };
const THREADS: Record<string, string[]> = { pi: ['irq', 'processor', 'control', 'esplink'], esp: ['loop'] };
const MS = 1_000_000n;

export function config(limits: InvariantLimits = {}): InvariantConfig {
  return resolveInvariantConfig(
    {
      buttons: Object.fromEntries(Object.entries(GPIO).map(([b, gpio]) => [b, { device: 'pi', gpio }])),
      devices: { pi: { queue: { capacity: 100 } }, esp: { queue: { capacity: 10 } } },
    },
    { causality: [{ from: 'pi', to: 'esp', withinMs: 500 }], ...limits },
  );
}

export interface PressOptions {
  /** Extra level-0 edges (contact bounce the firmware did not debounce). Default 0. */
  bounces?: number;
  /** What the callback does: queue, refuse, lose silently, or the device sees no edge at all. Default 'put'. */
  mode?: 'put' | 'drop' | 'silent' | 'none';
  /** The callback's own duration, µs. Default 40. */
  cbUs?: number;
  holdMs?: number;
  /** Relay command → the device's edge line, ms (operate time plus the bench's delivery). Default 6. */
  edgeMs?: number;
  /** The callback runs this long after its edge line (deferred from where the edge was printed), ms. Default 0. */
  cbDelayMs?: number;
  /** Extra level-0 edges logged raw after the callback, 0.3 ms apart: bounce the firmware printed but debounced (no callback). Default 0. */
  raw?: number;
}

export class Trace {
  readonly obs: Observation[] = [];
  /** Host ns now. */
  t = 1_000_000_000n;
  private readonly seq: Record<string, number> = { pi: 0, esp: 0 };
  private readonly devOffsetUs: Record<string, number> = { pi: 12_345_678, esp: 400_000 };
  private readonly nextHb: Record<string, bigint> = {};
  /** Threads that no longer beat, `device:thread`. */
  readonly stopped = new Set<string>();
  /** The panel's queue as the scripted firmware holds it. */
  readonly queue: string[] = [];
  cap = 100;
  linkNs = 1_000_000n;
  private pressId = 1;
  private reqId = 1;

  constructor(boot = true) {
    if (boot) {
      this.dev('pi', 'boot', { fw: 'panel', ver: 3.3 });
      this.dev('esp', 'boot', { fw: 'esp', ver: 1.4, reset: 'poweron' });
      this.advance(1);
    }
  }

  /**
   * The observations in the order they arrived (host time; a tie keeps the order they were made),
   * numbered again: the log a slow link makes, where a press record can come before lines a
   * device printed earlier.
   */
  inArrivalOrder(): Observation[] {
    return this.obs
      .map((o, k) => ({ o, k }))
      .sort((a, b) => (a.o.t < b.o.t ? -1 : a.o.t > b.o.t ? 1 : a.k - b.k))
      .map(({ o }, k) => ({ ...o, i: this.drained + k }));
  }

  /** Observations already handed out by {@link drain}: indices go on from there. */
  private drained = 0;

  /** Take the observations made so far (a long trace is fed in pieces, not held whole). */
  drain(): Observation[] {
    const out = this.obs.splice(0);
    this.drained += out.length;
    return out;
  }

  private push(o: Omit<Observation, 'i'>): Observation {
    const full = { ...o, i: this.drained + this.obs.length } as Observation;
    this.obs.push(full);
    return full;
  }

  tDev(device: string, atNs = this.t): number {
    return Math.round(Number(atNs) / 1000) - 1_000_000 + this.devOffsetUs[device]!;
  }

  /** A telemetry line printed now (plus `dtUs`), arriving one link delay later. */
  dev(device: string, kind: string, fields: Record<string, FieldValue> = {}, opts: { seq?: number; dtUs?: number; arriveNs?: bigint } = {}): Observation {
    const seq = opts.seq ?? (kind === 'boot' ? 1 : this.seq[device]! + 1);
    this.seq[device] = seq;
    const at = this.t + BigInt(Math.round((opts.dtUs ?? 0) * 1000));
    const tail = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ');
    return this.push({ t: opts.arriveNs ?? at + this.linkNs, source: device, kind, fields, seq, tDev: this.tDev(device, at), text: `HIL ${seq} ${this.tDev(device, at)} ${kind} ${tail}` });
  }

  /** A free-form console line. */
  text(device: string, text: string): Observation {
    return this.push({ t: this.t + this.linkNs, source: device, kind: 'line', text });
  }

  /** Something the harness did or recorded, now. */
  harness(source: string, kind: string, fields: Record<string, FieldValue>): Observation {
    return this.push({ t: this.t, source, kind, fields });
  }

  /** Let `ms` pass; living threads beat every 250 ms. */
  advance(ms: number): void {
    const end = this.t + BigInt(Math.round(ms * 1e6));
    for (;;) {
      let next: [string, string, bigint] | undefined;
      for (const [device, threads] of Object.entries(THREADS)) {
        for (const th of threads) {
          const k = `${device}:${th}`;
          const due = this.nextHb[k] ?? this.t;
          if (!this.stopped.has(k) && due <= end && (!next || due < next[2])) next = [device, th, due];
        }
      }
      if (!next) break;
      this.t = next[2] > this.t ? next[2] : this.t;
      this.dev(next[0], 'hb', { thread: next[1], depth: next[0] === 'pi' ? this.queue.length : 0, processed: 0 });
      this.nextHb[`${next[0]}:${next[1]}`] = this.t + 250n * MS;
    }
    this.t = end;
  }

  /** A press through the relay, its edges and its callback; processing is separate ({@link process}). */
  press(button: string, o: PressOptions = {}): number {
    const id = this.pressId++;
    const holdMs = o.holdMs ?? 30;
    this.harness('buttons', 'press', { press_id: id, button, hold_ms: holdMs });
    this.advance(o.edgeMs ?? 6); // relay operate time
    if (o.mode !== 'none') {
      for (let k = 0; k <= (o.bounces ?? 0); k++) {
        this.dev('pi', 'edge', { pin: GPIO[button]!, level: 0 });
        if (o.cbDelayMs) this.advance(o.cbDelayMs);
        this.callback(button, o);
        this.advance(0.3);
      }
      for (let k = 0; k < (o.raw ?? 0); k++) {
        this.dev('pi', 'edge', { pin: GPIO[button]!, level: 0 });
        this.advance(0.3);
      }
    }
    return id;
  }

  release(id: number, button: string, edge = true): void {
    this.harness('buttons', 'release', { press_id: id, button });
    this.advance(4);
    if (edge) this.dev('pi', 'edge', { pin: GPIO[button]!, level: 1 });
  }

  /** Press, hold, release: a whole press. */
  click(button: string, o: PressOptions = {}): number {
    const id = this.press(button, o);
    this.advance((o.holdMs ?? 30) - (o.edgeMs ?? 6) - (o.cbDelayMs ?? 0));
    this.release(id, button);
    return id;
  }

  private callback(button: string, o: PressOptions): void {
    const mode = o.mode ?? 'put';
    if (mode === 'put') {
      this.queue.push(button);
      this.dev('pi', 'q_put', { btn: button, depth: this.queue.length, cap: this.cap }, { dtUs: 20 });
    } else if (mode === 'drop') {
      this.dev('pi', 'q_drop', { btn: button, depth: this.queue.length, cap: this.cap }, { dtUs: 20 });
    }
    this.dev('pi', 'cb', { btn: button, dur_us: o.cbUs ?? 40 }, { dtUs: o.cbUs ?? 40 });
  }

  /** The processor takes `n` events (default all) in queue order, 10 ms each. */
  process(n = this.queue.length, order?: number[]): void {
    for (let k = 0; k < n; k++) {
      const idx = order?.[k] ?? 0;
      const btn = this.queue.splice(idx, 1)[0]!;
      this.dev('pi', 'q_get', { btn, depth: this.queue.length, wait_us: 100 });
      this.advance(1);
      this.dev('pi', 'done', { btn, dur_us: 1000 });
      this.advance(9);
    }
  }

  /** An HTTP request the ESP queues and processes (the healthy path), or just the request/response. */
  request(o: { queue?: boolean; status?: number } = {}): string {
    const id = `h${this.reqId++}`;
    this.harness('http', 'request', { request_id: id, device: 'esp', method: 'POST', path: '/api/message' });
    this.advance(1);
    if (o.queue !== false) this.dev('esp', 'q_put', { req: id, depth: 1, cap: 10 });
    this.advance(1);
    this.harness('http', 'response', { request_id: id, device: 'esp', status: o.status ?? 202, ms: 2 });
    if (o.queue !== false) {
      this.advance(5);
      this.dev('esp', 'q_get', { req: id, depth: 0, wait_us: 5000 });
      this.advance(30);
      this.dev('esp', 'done', { req: id, dur_us: 30000 });
    }
    return id;
  }
}
