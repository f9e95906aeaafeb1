import { afterIo, sleepOn, type TimerHandle } from '../clock.ts';
import type { FieldValue, Observation } from '../observation.ts';
import { Priority, type ObservationLog } from '../observation-log.ts';
import { SOURCE } from '../topics.ts';
import { InvariantEngine } from './engine.ts';
import type { HostPlacer } from './epoch-fits.ts';
import { windowResult, type WindowResult } from './report.ts';
import { windowSettleMs, type InvariantConfig, type Violation } from './types.ts';

/** Source of everything the invariants record in the log. */
export const INVARIANTS_SOURCE = SOURCE.invariants;

export interface InvariantMonitorOptions {
  /** How often deadlines (heartbeats, drain, missing edges) are checked, ms of the log's clock. Default 100. */
  tickMs?: number;
  /** Record each violation in the log as `invariants.violation`. Default true. */
  record?: boolean;
  /** Places device times on the host clock in the rows (e.g. the session's ClockSync). Default: the engine's own fits. */
  placer?: HostPlacer;
  /**
   * Drop records the engine has judged once no open window can ask about them (memory stays flat
   * on a soak). Default true; false keeps every record, e.g. to compare, or to call
   * {@link InvariantMonitor.window} on spans already closed.
   */
  prune?: boolean;
}

/** A window the monitor has opened: pass it back to {@link InvariantMonitor.endWindow}. */
export interface OpenWindow {
  name: string;
  from: number;
  tFrom: bigint;
}

/** The fields of an `invariants.violation` observation. */
export function violationFields(v: Violation): Record<string, FieldValue> {
  const f: Record<string, FieldValue> = { invariant: v.invariant, device: v.device, kind: v.kind, detail: v.detail, at: v.at, t_ns: String(v.t), key: v.key };
  if (v.pressId !== undefined) f.press_id = v.pressId;
  if (v.requestId !== undefined) f.request_id = v.requestId;
  return f;
}

/**
 * Runs every invariant on a live {@link ObservationLog}: subscribed at invariant priority,
 * violations appear as the observations that show them are dispatched, and deadlines are checked
 * on a timer of the log's clock. Each violation is recorded in the log (`invariants.violation`),
 * so a recorded run carries them; windows (one per test) are recorded too
 * (`invariants.window_start` / `window_end`), so `checkObservations` finds them again.
 */
export class InvariantMonitor {
  readonly engine: InvariantEngine;
  private readonly unsubscribe: () => void;
  private readonly offViolation: () => void;
  private timer: TimerHandle | undefined;
  private closed = false;
  private readonly tickMs: number;
  private readonly placer: HostPlacer;
  private readonly prune: boolean;
  /** Windows begun and not yet ended: records from the oldest one's start on are kept. */
  private readonly open = new Set<OpenWindow>();

  constructor(
    private readonly log: ObservationLog,
    config: InvariantConfig,
    options: InvariantMonitorOptions = {},
  ) {
    this.engine = new InvariantEngine(config);
    this.tickMs = options.tickMs ?? 100;
    this.placer = options.placer ?? this.engine.fits;
    this.prune = options.prune ?? true;
    const record = options.record ?? true;
    this.offViolation = this.engine.onViolation((v) => {
      if (record) log.record(INVARIANTS_SOURCE, 'violation', violationFields(v));
    });
    this.unsubscribe = log.on('*', (o) => this.engine.observe(o), { priority: Priority.INVARIANT, name: 'invariants' });
    this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.log.clock.setTimer(() => {
      // Deadlines are judged once the lines that arrived while this process was not running are
      // in (the timer fires first): a stalled harness must not read its own stall as the device's.
      afterIo(this.log.clock, () => {
        if (this.closed) return;
        this.tick();
        this.arm();
      });
    }, this.tickMs);
  }

  /** Check deadlines now (after running subscribers for everything already appended). */
  tick(): void {
    this.log.flush();
    this.retain();
    this.engine.tick(this.log.clock.now());
  }

  /** Tell the engine what no window can ask about any more: before the oldest open window, or everything when none is open. */
  private retain(): void {
    if (!this.prune) return;
    let from = this.log.nextIndex;
    for (const w of this.open) if (w.from < from) from = w.from;
    this.engine.retainFrom(from);
  }

  /** Every violation so far. */
  get violations(): readonly Violation[] {
    return this.engine.violations;
  }

  /** Open a window (a test): records `invariants.window_start`. */
  beginWindow(name: string): OpenWindow {
    const o = this.log.record(INVARIANTS_SOURCE, 'window_start', { name });
    const w = { name, from: o.i, tFrom: o.t };
    this.open.add(w);
    return w;
  }

  /**
   * Close a window: records `invariants.window_end`, waits the engine's settle time and its
   * reorder tolerance on the log's clock (so lines already received reach it, a line of the
   * window's last event still on its way is matched, and deadlines up to the end are checked), then
   * returns its violations, statistics and rows. Percentile violations found over the window are
   * recorded in the log too.
   */
  async endWindow(w: OpenWindow): Promise<WindowResult> {
    const end = this.log.record(INVARIANTS_SOURCE, 'window_end', { name: w.name, from: w.from });
    await sleepOn(this.log.clock, windowSettleMs(this.engine.config));
    await new Promise<void>((resolve) => afterIo(this.log.clock, resolve));
    this.tick();
    const r = windowResult(this.engine, { from: w.from, to: end.i + 1, tFrom: w.tFrom, tTo: end.t, name: w.name }, this.placer);
    this.open.delete(w);
    this.retain();
    for (const v of r.violations) if (v.key.startsWith('pct:')) this.log.record(INVARIANTS_SOURCE, 'violation', violationFields(v));
    return r;
  }

  /** The current state of a span of the log, without recording anything (with pruning on, only spans from the oldest open window on, or not yet ticked past, are whole). */
  window(from: number, to: number = this.log.nextIndex): WindowResult {
    const first: Observation | undefined = this.log.at(from);
    const last: Observation | undefined = this.log.at(to - 1);
    if (from >= to) {
      // Nothing recorded since `from` (a short wait on a quiet bench): the window is the time since
      // the last observation before it, not the whole run. (It was [0, that observation]: every
      // violation of every earlier test, which failed a model-based run's 100 ms wait with one.)
      const before = this.log.at(from - 1)?.t;
      return windowResult(this.engine, { from, to, tFrom: before === undefined ? 0n : before + 1n, tTo: this.log.clock.now() }, this.placer);
    }
    return windowResult(this.engine, { from, to, tFrom: first?.t ?? 0n, tTo: last?.t ?? this.log.clock.now() }, this.placer);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) this.log.clock.clearTimer(this.timer);
    this.unsubscribe();
    this.offViolation();
  }
}
