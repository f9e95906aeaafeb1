import type { GroundTruthLog } from './ground-truth.ts';

export { mulberry32, type Prng } from './prng.ts';
import { mulberry32, type Prng } from './prng.ts';

/** Contact timing of one relay channel, ms. */
export interface RelayTiming {
  /** Coil energised → NO contact makes, uniform in [operateMinMs, operateMaxMs]. Default 5–8. */
  operateMinMs: number;
  operateMaxMs: number;
  /** Coil released → contact opens, uniform in [releaseMinMs, releaseMaxMs]. Default 3–5. */
  releaseMinMs: number;
  releaseMaxMs: number;
  /** After a make, 0…maxBounces open/close pairs (uniform). Default 3. */
  maxBounces: number;
  /** All bounces of one make fall within this time after it. Default 1.5. */
  bounceWindowMs: number;
}

export const DEFAULT_RELAY_TIMING: Readonly<RelayTiming> = Object.freeze({
  operateMinMs: 5,
  operateMaxMs: 8,
  releaseMinMs: 3,
  releaseMaxMs: 5,
  maxBounces: 3,
  bounceWindowMs: 1.5,
});

/**
 * A contact change. `bounce` is false for the make (first close) and the break (open on release),
 * true for every open and re-close of the bounce train that follows a make.
 */
export type ContactListener = (closed: boolean, tNs: bigint, bounce: boolean) => void;

export interface RelayChannelOptions {
  /** Source name in the ground truth, e.g. `relay:PRESSURE_UP`. */
  name: string;
  /** true: the coil is energised while the input is LOW (most opto-isolated modules); false: while HIGH. */
  activeLow: boolean;
  /** Seed for the channel's own mulberry32, or a PRNG to draw from. */
  seed: number | Prng;
  /** Where `coil` and `contact` records go. Default: none. */
  truth?: GroundTruthLog;
  /** Called for every contact change, in order, with its intended host time. */
  onContact: ContactListener;
  /** Override parts of {@link DEFAULT_RELAY_TIMING}. */
  timing?: Partial<RelayTiming>;
}

interface ContactEvent {
  t: bigint;
  closed: boolean;
  bounce: boolean;
}

const NS_PER_MS = 1_000_000;
const hrtime = (): bigint => process.hrtime.bigint();

/**
 * One relay channel (coil + NO contact) with operate/release delays and contact bounce.
 *
 * {@link drive} takes the level on the module input (0, 1, or null for not driven: a floating
 * input releases the coil whatever the polarity) and the host time it changed. Contact changes
 * are computed from that time and the seeded PRNG, delivered by a real timer (1 ms granularity),
 * and carry their intended time; the bounce train of a make is delivered in the same burst as the
 * make when it is due within `bounceWindowMs`. Every make of one channel bounces the same number
 * of times (drawn from the seed), at offsets drawn afresh for each make. A coil released before its contact made cancels the
 * make; a coil re-energised before its contact dropped out cancels the break.
 */
export class RelayChannel {
  readonly name: string;
  readonly activeLow: boolean;
  private readonly timing: RelayTiming;
  private readonly rng: Prng;
  private readonly truth: GroundTruthLog | undefined;
  private readonly onContact: ContactListener;
  private coil = false;
  private contact = false;
  private pending: ContactEvent[] = [];
  private lastT: bigint | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bounce pairs after every make of this contact (its mechanical signature, drawn once from the seed). */
  private readonly bounces: number;

  constructor(opts: RelayChannelOptions) {
    if (typeof opts.name !== 'string' || opts.name === '') {
      throw new TypeError(`RelayChannel: name must be a non-empty string, got ${JSON.stringify(opts.name)}`);
    }
    if (typeof opts.onContact !== 'function') throw new TypeError(`RelayChannel ${opts.name}: onContact must be a function`);
    const timing = { ...DEFAULT_RELAY_TIMING, ...opts.timing };
    for (const [k, v] of Object.entries(timing)) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`RelayChannel ${opts.name}: timing.${k} must be >= 0, got ${String(v)}`);
    }
    if (timing.operateMaxMs < timing.operateMinMs || timing.releaseMaxMs < timing.releaseMinMs) {
      throw new RangeError(`RelayChannel ${opts.name}: timing max below min: ${JSON.stringify(timing)}`);
    }
    this.name = opts.name;
    this.activeLow = opts.activeLow;
    this.timing = timing;
    this.rng = typeof opts.seed === 'function' ? opts.seed : mulberry32(opts.seed);
    // A contact bounces the same number of times on every make: the train depends on the seed and
    // the relay pressed, not on how many presses came before, so a one-press replay bounces again.
    this.bounces = Math.min(timing.maxBounces, Math.floor(this.rng() * (timing.maxBounces + 1)));
    this.truth = opts.truth;
    this.onContact = opts.onContact;
  }

  /** Whether the coil is energised. */
  get coilOn(): boolean {
    return this.coil;
  }

  /** True when no contact change is waiting to be delivered. */
  get settled(): boolean {
    return this.pending.length === 0;
  }

  /** Intended time of the next contact change not yet delivered, if any. */
  get nextContactNs(): bigint | undefined {
    return this.pending[0]?.t;
  }

  /** The contact state as last delivered to `onContact`. */
  get isClosed(): boolean {
    return this.contact;
  }

  /**
   * The module input changed to `level` at host time `tNs` (default: now). `tNs` may lie in the
   * past (the board reports pin changes at their computed time); contact times count from it.
   */
  drive(level: 0 | 1 | null, tNs: bigint = hrtime()): void {
    if (level !== 0 && level !== 1 && level !== null) {
      throw new RangeError(`RelayChannel ${this.name}: drive level must be 0, 1 or null, got ${String(level)}`);
    }
    const on = level !== null && level === (this.activeLow ? 0 : 1);
    if (on === this.coil) return;
    this.coil = on;
    this.truth?.record({ t: tNs, src: this.name, kind: 'coil', on });
    if (on) this.energise(tNs);
    else this.deenergise(tNs);
    this.arm();
  }

  /** Stop the timer and drop undelivered contact changes (end of a test or of the bench). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
  }

  private energise(t: bigint): void {
    // Decided on the contact's own times, not on what the timer has delivered yet: a busy host
    // can deliver a change late, but it still happened before this drive if its time says so.
    const breakAt = this.pending.findIndex((e) => !e.closed && !e.bounce);
    if (breakAt >= 0 && this.pending[breakAt]!.t > t) {
      // Re-energised before the armature dropped out: the contact never opens.
      this.pending.splice(breakAt, 1);
      return;
    }
    if (this.pending.at(-1)?.closed ?? this.contact) return;
    const { operateMinMs, operateMaxMs, maxBounces, bounceWindowMs } = this.timing;
    let make = this.after(t, this.uniform(operateMinMs, operateMaxMs));
    const last = this.pending.at(-1)?.t;
    if (last !== undefined && make <= last) make = last + 1n;
    this.pending.push({ t: make, closed: true, bounce: false });
    const n = Math.min(maxBounces, this.bounces);
    const offsets = Array.from({ length: 2 * n }, () => this.rng() * bounceWindowMs).sort((a, b) => a - b);
    let prev = make;
    offsets.forEach((ms, i) => {
      // Strictly after the previous edge, so the order of edges is the order of times.
      let at = this.after(make, ms);
      if (at <= prev) at = prev + 1n;
      prev = at;
      this.pending.push({ t: at, closed: i % 2 === 1, bounce: true });
    });
  }

  private deenergise(t: bigint): void {
    const makeAt = this.pending.findIndex((e) => e.closed && !e.bounce);
    if (makeAt >= 0 && this.pending[makeAt]!.t > t) {
      // Released before the contact made: no make, no bounce.
      this.pending = this.pending.filter((_e, i) => i < makeAt);
      return;
    }
    if (!(this.pending.at(-1)?.closed ?? this.contact)) return;
    let open = this.after(t, this.uniform(this.timing.releaseMinMs, this.timing.releaseMaxMs));
    // Contact edges stay in time order even if this call comes late.
    const last = this.pending.at(-1)?.t ?? this.lastT;
    if (last !== undefined && open <= last) open = last + 1n;
    this.pending.push({ t: open, closed: false, bounce: false });
  }

  private uniform(min: number, max: number): number {
    return min + (max - min) * this.rng();
  }

  private after(t: bigint, ms: number): bigint {
    return t + BigInt(Math.round(ms * NS_PER_MS));
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const first = this.pending[0];
    if (first === undefined) return;
    const wait = first.t - hrtime();
    const delayMs = wait <= 0n ? 0 : Math.ceil(Number(wait) / NS_PER_MS);
    this.timer = setTimeout(this.deliver, delayMs);
  }

  private readonly deliver = (): void => {
    this.timer = undefined;
    const now = hrtime();
    const burstEnd = now + BigInt(Math.round(this.timing.bounceWindowMs * NS_PER_MS));
    let n = 0;
    for (const e of this.pending) {
      if (e.t <= now || (e.bounce && e.t <= burstEnd)) n++;
      else break;
    }
    const due = this.pending.splice(0, n);
    try {
      for (const e of due) {
        this.contact = e.closed;
        this.lastT = e.t;
        this.truth?.record({ t: e.t, src: this.name, kind: 'contact', closed: e.closed, bounce: e.bounce });
        this.onContact(e.closed, e.t, e.bounce);
      }
    } finally {
      this.arm();
    }
  };
}

export interface RelayModuleOptions {
  /** Module name; channel `label` becomes channel name `${name}:${label}`. */
  name: string;
  /** Input polarity of every channel (see {@link RelayChannelOptions.activeLow}). */
  activeLow: boolean;
  /** Seed of the module; each channel gets its own seed drawn from it, in ascending pin order. */
  seed: number;
  /** Board pin → channel label, e.g. `{ 8: 'PRESSURE_UP', 9: 'VENT' }`. */
  pins: Record<number, string>;
  /** Where `coil` and `contact` records go. Default: none. */
  truth?: GroundTruthLog;
  /** Contact changes of any channel. Default: none. */
  onContact?: (label: string, closed: boolean, tNs: bigint, bounce: boolean) => void;
  /**
   * Every input change of a channel: the level (null: the input floats, as on a board reset or
   * power loss, rather than a level the host commanded), the coil after it, and whether the coil
   * changed. Default: none.
   */
  onInput?: (label: string, level: 0 | 1 | null, coilOn: boolean, changed: boolean, tNs: bigint) => void;
  /** Timing overrides for every channel. */
  timing?: Partial<RelayTiming>;
}

/** The part of a board a relay module listens to (e.g. `FirmataBoardSim`). */
export interface PinChangeSource {
  onPinChange(listener: (pin: number, level: 0 | 1 | null, mode: string, tNs: bigint) => void): () => void;
}

/** A multi-channel relay board wired to board pins: routes each pin's level to its channel. */
export class RelayModule {
  readonly name: string;
  /** Channels by board pin. */
  readonly channels: ReadonlyMap<number, RelayChannel>;
  private readonly labels = new Map<number, string>();
  private readonly onInput: RelayModuleOptions['onInput'];

  constructor(opts: RelayModuleOptions) {
    this.name = opts.name;
    this.onInput = opts.onInput;
    const seeds = mulberry32(opts.seed);
    const pins = Object.keys(opts.pins)
      .map(Number)
      .sort((a, b) => a - b);
    const channels = new Map<number, RelayChannel>();
    for (const pin of pins) {
      if (!Number.isInteger(pin) || pin < 0) throw new RangeError(`RelayModule ${opts.name}: pins key must be a pin number, got ${pin}`);
      const label = opts.pins[pin] as string;
      this.labels.set(pin, label);
      channels.set(
        pin,
        new RelayChannel({
          name: `${opts.name}:${label}`,
          activeLow: opts.activeLow,
          seed: Math.floor(seeds() * 4294967296),
          truth: opts.truth,
          timing: opts.timing,
          onContact: (closed, t, bounce) => opts.onContact?.(label, closed, t, bounce),
        }),
      );
    }
    this.channels = channels;
  }

  /** Feed one board pin's level; pins without a channel are ignored. */
  drive(pin: number, level: 0 | 1 | null, tNs: bigint = hrtime()): void {
    const channel = this.channels.get(pin);
    if (!channel) return;
    const was = channel.coilOn;
    channel.drive(level, tNs);
    this.onInput?.(this.labels.get(pin)!, level, channel.coilOn, channel.coilOn !== was, tNs);
  }

  /** Earliest intended time of a contact change any channel has not delivered yet. */
  get nextContactNs(): bigint | undefined {
    let min: bigint | undefined;
    for (const c of this.channels.values()) {
      const t = c.nextContactNs;
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  /** Listen to a board's pin changes. Returns the unsubscribe function. */
  attach(board: PinChangeSource): () => void {
    return board.onPinChange((pin, level, _mode, t) => this.drive(pin, level, t));
  }

  dispose(): void {
    for (const c of this.channels.values()) c.dispose();
  }
}
