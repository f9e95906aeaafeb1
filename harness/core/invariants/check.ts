import type { Observation } from '../observation.ts';
import { InvariantEngine } from './engine.ts';
import type { HostPlacer } from './epoch-fits.ts';
import { INVARIANTS_SOURCE } from './monitor.ts';
import { windowResult, type LogWindow, type WindowResult } from './report.ts';
import { windowSettleMs, type InvariantConfig, type Violation } from './types.ts';

export interface CheckOptions {
  /**
   * Windows to report on. Default: the `invariants.window_start`/`window_end` pairs recorded by a
   * live monitor; with none recorded, one window over everything.
   */
  windows?: Array<{ from: number; to: number; name?: string }>;
  /** Places device times on the host clock in the rows. Default: the engine's own fits. */
  placer?: HostPlacer;
  /** Drop records once every window that could ask about them has its result, as the live monitor does. Default true. */
  prune?: boolean;
}

export interface CheckResult {
  /** Every violation over the whole record. */
  violations: Violation[];
  windows: WindowResult[];
  engine: InvariantEngine;
}

/**
 * Run the invariants offline over recorded observations (in log order), exactly as the live
 * monitor does: each observation runs the deadlines up to its time, then is fed; a window's
 * result is taken once the record has passed its end by the settle time, as the monitor does at
 * `endWindow`. Violations recorded by the live run (`invariants.*`) are not read back, only
 * re-derived, so new invariants apply to old records.
 */
export function checkObservations(observations: Iterable<Observation>, config: InvariantConfig, options: CheckOptions = {}): CheckResult {
  const all = [...observations];
  const engine = new InvariantEngine(config);
  const settle = BigInt(Math.round(config.settleMs * 1e6));
  // The monitor's endWindow: it waits this long past the window's end, then ticks.
  const after = BigInt(Math.round(windowSettleMs(config) * 1e6));
  const byIndex = new Map<number, Observation>();
  for (const o of all) byIndex.set(o.i, o);
  const wanted = options.windows ?? recordedWindows(all);
  const windows: LogWindow[] = (wanted.length > 0 ? wanted : all.length > 0 ? [{ from: all[0]!.i, to: all[all.length - 1]!.i + 1, name: 'all' }] : []).map((w) => ({
    ...w,
    tFrom: byIndex.get(w.from)?.t ?? all[0]?.t ?? 0n,
    tTo: byIndex.get(w.to - 1)?.t ?? all[all.length - 1]?.t ?? 0n,
  }));
  const results = new Map<LogWindow, WindowResult>();
  const take = (upTo: bigint | undefined): void => {
    for (const w of windows) {
      if (results.has(w) || (upTo !== undefined && upTo <= w.tTo + after)) continue;
      engine.tick(w.tTo + after);
      results.set(w, windowResult(engine, w, options.placer ?? engine.fits));
    }
  };
  const prune = options.prune ?? true;
  // The oldest start of a window whose result is still to be taken: nothing before it is asked for.
  let taken = -1;
  let oldestOpen = Infinity;
  for (const o of all) {
    take(o.t);
    if (prune) {
      if (results.size !== taken) {
        taken = results.size;
        oldestOpen = Infinity;
        for (const w of windows) if (!results.has(w) && w.from < oldestOpen) oldestOpen = w.from;
      }
      engine.retainFrom(Math.min(o.i, oldestOpen));
    }
    engine.observe(o);
  }
  engine.tick(engine.latestT + settle);
  take(undefined);
  return { violations: engine.violations, windows: windows.map((w) => results.get(w)!), engine };
}

/** Windows a live monitor recorded: `invariants.window_start` … `invariants.window_end`. */
export function recordedWindows(observations: Iterable<Observation>): Array<{ from: number; to: number; name: string }> {
  const out: Array<{ from: number; to: number; name: string }> = [];
  for (const o of observations) {
    if (o.source !== INVARIANTS_SOURCE || o.kind !== 'window_end') continue;
    out.push({ from: Number(o.fields?.from), to: o.i + 1, name: String(o.fields?.name ?? '') });
  }
  return out;
}
