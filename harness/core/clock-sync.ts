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
  /**
   * How far a young fit's placements may be off, µs, on a device's first boot: before any boot of
   * it has shown how far a young fit moves (see {@link EpochFits.toHost}). Default: 50,000 µs,
   * plus, where the console crosses a UART, twice the transmission time of the boot's longest
   * line so far (a line may have waited in the device's buffer behind one as long). Later boots
   * use what the device's earlier boots showed instead.
   */
  youthPriorUs?: number;
}

/**
 * A boot's fit is young until it has this many points over this much device time. Until then its
 * fastest lines may all share a delay that no later line has yet shown (a host and a device both
 * starting up, lines queued behind a boot burst), and its own bound, made of how far lines sit
 * above the fastest, cannot see a delay they all share: on the sim's direct link the live bound
 * missed lines of fits of fewer than 32 points (the first 1.4 s of a boot), placed 2-4 ms late
 * with a bound of 0-0.5 ms. Its slope, a chord over a short span, tilts too: lines 2.5-3.3 s into
 * a boot were placed 1.1-1.4 ms late with a bound of 0.9-1.1 ms (bench:clock --misses).
 */
const YOUNG_POINTS = 64;
const YOUNG_SPAN_US = 5_000_000;
/** Young placements kept per boot to learn from, at most. */
const YOUNG_KEPT = 512;
/**
 * The youth prior's part that does not depend on a UART, µs. Young fits on the sim's direct link
 * were off by up to 4.4 ms at load 1-3 and 13-16 ms at load 5 (bench:clock: the sim and the
 * harness both starting up), and by 19-20 ms on its UART and USB-serial links; this machine's
 * load reaches 15.
 */
const YOUTH_PRIOR_US = 50_000;

/**
 * What a device's earlier boots showed is doubled before a young fit's bound uses it: a handful of
 * boots is a small sample, and a boot's first lines are the least like the rest. A learnt value
 * of 6.5 ms under-covered a later boot's third line by 1.34× (8.6 ms; bench:clock --cycle-every 6).
 */
const LEARNT_MARGIN = 2;

/** A young fit's placement of a line as the line arrived. */
interface YoungPlacement {
  /** Device µs. */
  x: number;
  /** Host µs it was placed at (without a known link delay: only differences are used). */
  hostUs: number;
  /** The fit's points then. */
  points: number;
}

/** One boot of a device: its clock restarts, so it has its own fit. */
interface Epoch {
  /** First log index of this epoch. */
  from: number;
  fit: ClockFit;
  /** While the fit is young, each line's placement as it arrived; undefined once grown up. */
  young: YoungPlacement[] | undefined;
  /** The longest transmission time of a line of this boot so far, µs (0 without a UART). */
  longestTxUs: number;
}

/** The bucket of a young fit's point count a youth allowance is kept for: ⌊log2 points⌋. */
const youthBucket = (points: number): number => Math.floor(Math.log2(Math.max(1, points)));

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
  /**
   * Per device, what its earlier boots showed: for each {@link youthBucket} of a young fit's
   * points, the farthest a young placement was from where the grown-up fit put it, plus the
   * grown-up fit's own bound. Kept across boots, never across runs.
   */
  private readonly youth = new Map<string, number[]>();

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
      cur = this.newEpoch(o.i);
      list.push(cur);
    }
    const txUs = this.transmissionUs(o);
    const hostUs = Number(o.t) / 1000 - txUs;
    if (!cur.fit.add(o.tDev, hostUs)) {
      // Device time went back without a boot line (a reset we did not see announced).
      cur = this.newEpoch(o.i);
      list.push(cur);
      cur.fit.add(o.tDev, hostUs);
    }
    if (txUs > cur.longestTxUs) cur.longestTxUs = txUs;
    if (cur.young) this.grow(o.source, cur, o.tDev);
  }

  private newEpoch(from: number): Epoch {
    return { from, fit: new ClockFit(this.options), young: [], longestTxUs: 0 };
  }

  /**
   * Keep a young fit's placement of the line just added; when the fit has grown up, learn from
   * its youth how far a young fit of this device was off (see {@link youth}).
   */
  private grow(source: string, e: Epoch, tDev: number): void {
    const fit = e.fit;
    if (fit.points < YOUNG_POINTS || fit.spanUs < YOUNG_SPAN_US) {
      if (fit.points >= 2 && e.young!.length < YOUNG_KEPT) e.young!.push({ x: tDev, hostUs: fit.hostUs(tDev)!, points: fit.points });
      return;
    }
    const m = fit.mapping()!;
    const grownUs = this.boundUs(m);
    let profile = this.youth.get(source);
    if (!profile) {
      profile = [];
      this.youth.set(source, profile);
    }
    for (const p of e.young!) {
      const b = youthBucket(p.points);
      const off = Math.abs(p.hostUs - toHostUs(m, p.x)) + grownUs;
      if (!((profile[b] ?? -1) >= off)) profile[b] = off;
    }
    e.young = undefined;
  }

  /**
   * The least bound of a young fit, µs: what this device's earlier boots showed at as many points
   * (the largest at that many or more: a fit's youth only ends), with {@link LEARNT_MARGIN}, or on
   * its first boot the prior.
   */
  private youthUs(source: string, e: Epoch): number {
    const profile = this.youth.get(source);
    if (!profile || profile.length === 0) return this.options.youthPriorUs ?? YOUTH_PRIOR_US + 2 * e.longestTxUs;
    let us = 0;
    for (let b = Math.min(youthBucket(e.fit.points), profile.length - 1); b < profile.length; b++) us = Math.max(us, profile[b] ?? 0);
    return LEARNT_MARGIN * us;
  }

  /** A mapping's own bound, µs: its band, and the link's floor unless a delay is declared. */
  private boundUs(m: ClockMapping): number {
    return m.errorBoundUs + (this.options.linkDelayUs === undefined ? m.linkSpreadUs : 0);
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
   * clock. Undefined until that boot has two points (one point is not a mapping). While the boot's
   * fit is young (fewer than 64 points or 5 s of device time), the bound is at least twice what
   * this device's earlier boots showed a young fit to be off by, or on its first boot
   * {@link EpochFitsOptions.youthPriorUs}: arrival times alone cannot show a delay that every line
   * so far shares. The placement itself is the fit's, young or not.
   */
  toHost(source: string, tDevUs: number, at?: number): HostPlacement | undefined {
    const e = this.epochAt(source, at);
    const m = e?.fit.mapping();
    if (!e || !m || m.points < 2) return undefined;
    const us = toHostUs(m, tDevUs) - (this.options.linkDelayUs ?? 0);
    // Without a known link delay, the fastest lines' own delay is part of what is not known.
    let errUs = this.boundUs(m);
    // A young fit cannot show a delay all its lines share: its bound is at least what this
    // device's earlier boots showed, or the prior on its first.
    if (e.young) errUs = Math.max(errUs, this.youthUs(source, e));
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

  /**
   * Whether the fit of the boot that contains log index `at` (default: the latest) is still young
   * (see {@link toHost}): its placements may be off either way, early as well as late. Undefined
   * before that boot has a fit.
   */
  isYoung(source: string, at?: number): boolean | undefined {
    const e = this.epochAt(source, at);
    return e && e.fit.points >= 2 ? e.young !== undefined : undefined;
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
