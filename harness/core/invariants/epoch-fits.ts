import { ClockFit, toHostUs, type ClockMapping } from '../clock-fit.ts';
import type { Observation } from '../observation.ts';

/** A device time placed on the host timeline (same shape as ClockSync's). */
export interface HostPlacement {
  /** Host monotonic ns. */
  t: bigint;
  /** ± error bound, ns. */
  errNs: number;
}

/** Anything that can place a device time on the host clock; `ClockSync` fits. */
export interface HostPlacer {
  toHost(source: string, tDevUs: number, at?: number): HostPlacement | undefined;
}

/**
 * ClockSync's per-boot fits, without a log subscription: fed in log order by whoever owns it, so
 * a live run and a re-check of its record compute the same mappings at the same points.
 */
export class EpochFits implements HostPlacer {
  private readonly epochs = new Map<string, Array<{ from: number; fit: ClockFit }>>();

  observe(o: Observation): void {
    if (o.tDev === undefined) return;
    let list = this.epochs.get(o.source);
    if (!list) {
      list = [];
      this.epochs.set(o.source, list);
    }
    let cur = list[list.length - 1];
    if (!cur || (o.kind === 'boot' && cur.fit.points > 0)) {
      cur = { from: o.i, fit: new ClockFit() };
      list.push(cur);
    }
    if (!cur.fit.add(o.tDev, Number(o.t) / 1000)) {
      cur = { from: o.i, fit: new ClockFit() };
      list.push(cur);
      cur.fit.add(o.tDev, Number(o.t) / 1000);
    }
  }

  mapping(source: string, at?: number): ClockMapping | undefined {
    const list = this.epochs.get(source);
    if (!list || list.length === 0) return undefined;
    let e = list[list.length - 1];
    if (at !== undefined) {
      e = undefined;
      for (const x of list) if (x.from <= at) e = x;
    }
    return e?.fit.mapping();
  }

  toHost(source: string, tDevUs: number, at?: number): HostPlacement | undefined {
    const m = this.mapping(source, at);
    if (!m || m.points < 2) return undefined;
    return { t: BigInt(Math.round(toHostUs(m, tDevUs) * 1000)), errNs: Math.round(m.errorBoundUs * 1000) };
  }
}
