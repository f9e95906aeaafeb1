import { ClockFit, toHostUs, type ClockFitOptions, type ClockMapping } from './clock-fit.ts';
import type { Observation } from './observation.ts';
import { Priority, type ObservationLog } from './observation-log.ts';

/** Options of {@link EpochFits}: those of each {@link ClockFit}, and what is known of the links. */
export interface EpochFitsOptions extends ClockFitOptions {
  /**
   * Minimal link delay to subtract, µs, when it is known (measured on the bench). Then the bound
   * need not cover an unknown floor, and it is the envelope's own. Default: unknown (0 subtracted,
   * and the bound includes the link's spread, {@link ClockMapping.linkSpreadUs}).
   */
  linkDelayUs?: number;
  /**
   * Devices whose console crosses a UART, and its baud rate: a line's last byte arrives at least
   * its own transmission time (10 bits a byte, the line and its CR LF) after the device stamped
   * it, so that much is taken off its arrival before the fit. Default: none (a PTY or a network
   * console, whose bytes take no time to cross).
   */
  uartBaud?: Readonly<Record<string, number>>;
}

/** One boot of a device: its clock restarts, so it has its own fit. */
interface Epoch {
  /** First log index of this epoch. */
  from: number;
  fit: ClockFit;
}

/** A device time placed on the host timeline. */
export interface HostPlacement {
  /** Host monotonic ns. */
  t: bigint;
  /** ± error bound, ns. */
  errNs: number;
}

/** Anything that can place a device time on the host clock. */
export interface HostPlacer {
  toHost(source: string, tDevUs: number, at?: number): HostPlacement | undefined;
}

/**
 * A {@link ClockFit} per device and per boot, fed in log order by whoever owns it. The invariants
 * feed one themselves, so a live run and a re-check of its record compute the same mappings at
 * the same points; {@link ClockSync} feeds one from a live log.
 */
export class EpochFits implements HostPlacer {
  private readonly epochs = new Map<string, Epoch[]>();

  constructor(private readonly options: EpochFitsOptions = {}) {}

  observe(o: Observation): void {
    if (o.tDev === undefined) return;
    let list = this.epochs.get(o.source);
    if (!list) {
      list = [];
      this.epochs.set(o.source, list);
    }
    let cur = list[list.length - 1];
    if (!cur || (o.kind === 'boot' && cur.fit.points > 0)) {
      cur = { from: o.i, fit: new ClockFit(this.options) };
      list.push(cur);
    }
    const hostUs = Number(o.t) / 1000 - this.transmissionUs(o);
    if (!cur.fit.add(o.tDev, hostUs)) {
      // Device time went back without a boot line (a reset we did not see announced).
      cur = { from: o.i, fit: new ClockFit(this.options) };
      list.push(cur);
      cur.fit.add(o.tDev, hostUs);
    }
  }

  /** How long the line took to cross the device's UART, µs (0 when it has none). */
  private transmissionUs(o: Observation): number {
    const baud = this.options.uartBaud?.[o.source];
    if (!baud || o.text === undefined) return 0;
    // The decoded text has lost its line end: CR LF, as serial consoles send it.
    return ((Buffer.byteLength(o.text, 'utf8') + 2) * 10 * 1e6) / baud;
  }

  /** The mapping of a device's clock in the epoch that contains log index `at` (default: latest). */
  mapping(source: string, at?: number): ClockMapping | undefined {
    const e = this.epochAt(source, at);
    return e?.fit.mapping();
  }

  /**
   * Place a device time (µs) of `source`, from the boot that contains log index `at`, on the host
   * clock. Undefined until that boot has two points (one point is not a mapping).
   */
  toHost(source: string, tDevUs: number, at?: number): HostPlacement | undefined {
    const m = this.mapping(source, at);
    if (!m || m.points < 2) return undefined;
    const known = this.options.linkDelayUs;
    const us = toHostUs(m, tDevUs) - (known ?? 0);
    // Without a known link delay, the fastest lines' own delay is part of what is not known.
    const errUs = m.errorBoundUs + (known === undefined ? m.linkSpreadUs : 0);
    return { t: BigInt(Math.round(us * 1000)), errNs: Math.round(errUs * 1000) };
  }

  /**
   * Just the host time of {@link toHost} (the same number), without its error bound: cheap enough
   * to ask for every line.
   */
  hostT(source: string, tDevUs: number, at?: number): bigint | undefined {
    const fit = this.epochAt(source, at)?.fit;
    if (!fit || fit.points < 2) return undefined;
    const us = fit.hostUs(tDevUs)! - (this.options.linkDelayUs ?? 0);
    return BigInt(Math.round(us * 1000));
  }

  /** Number of boots seen per source. */
  epochCount(source: string): number {
    return this.epochs.get(source)?.length ?? 0;
  }

  private epochAt(source: string, at?: number): Epoch | undefined {
    const list = this.epochs.get(source);
    if (!list || list.length === 0) return undefined;
    if (at === undefined) return list[list.length - 1];
    let found: Epoch | undefined;
    for (const e of list) if (e.from <= at) found = e;
    return found;
  }
}

/** {@link EpochFits} fed from every timestamped observation of a live log. */
export class ClockSync extends EpochFits {
  private readonly unsubscribe: () => void;

  constructor(log: ObservationLog, options: EpochFitsOptions = {}) {
    super(options);
    this.unsubscribe = log.on('*', (o) => this.observe(o), { priority: Priority.INVARIANT + 10, name: 'clock-sync' });
  }

  close(): void {
    this.unsubscribe();
  }
}
