import type { Observation } from './observation.ts';

/**
 * The queue depth an observation reports for its device: the `depth` of a heartbeat, put, take or
 * drop line, and 0 at a boot (a boot empties the queue). Undefined for anything else.
 */
export function reportedDepth(o: Observation): number | undefined {
  if (o.kind === 'boot') return 0;
  if ((o.kind === 'hb' || o.kind === 'q_put' || o.kind === 'q_get' || o.kind === 'q_drop') && o.fields?.depth !== undefined) return Number(o.fields.depth);
  return undefined;
}

/**
 * Each device's latest queue depth, kept for the whole run (the log only keeps a window of it).
 * Fed every observation in order ({@link observe}); the session keeps one, read by the scenario
 * helpers (`waitIdle`) and by a property's progress line.
 */
export class QueueDepths implements Iterable<[string, number]> {
  private readonly latest = new Map<string, number>();

  observe(o: Observation): void {
    const d = reportedDepth(o);
    if (d !== undefined) this.latest.set(o.source, d);
  }

  /** The device's last reported depth; undefined while it has reported none. */
  get(device: string): number | undefined {
    return this.latest.get(device);
  }

  [Symbol.iterator](): Iterator<[string, number]> {
    return this.latest[Symbol.iterator]();
  }
}
