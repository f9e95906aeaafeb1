// What every modelled firmware thread of one power-on shares: the process state, the event
// queue, the console (one HIL sequence), the locks and the seeded draws. Nothing here keeps
// module state.
import { formatHil, type DeviceClock } from '../device-clock.ts';
import { mulberry32 } from '../prng.ts';
import { PANEL_QUEUE_CAPACITY, type ButtonName } from '../../devices/panel.ts';

/** Capacity the firmware advertises for its event queue. */
export const QUEUE_CAP = PANEL_QUEUE_CAPACITY;
/** GPIO edges the interrupt thread can have waiting before new ones are lost. */
export const GPIO_SLOTS = 4096;

/** Indices into the state word array (see state.ts). */
export const C = {
  REACTOR: 0,
  PRESSURE: 1,
  PUMP0: 2, // 2..4
  ROD0: 5, // 5..7
  POWER: 8,
} as const;
const STATE_WORDS = 16;

/** Thread ids, also used as lock-owner ids and to seed each thread's draws. */
export const THREAD_IDS = { irq: 1, processor: 2, control: 3, esplink: 4, main: 5 } as const;
export type ThreadName = Exclude<keyof typeof THREAD_IDS, 'main'>;

/** The panel's process state and counters (only touched by threads holding the state lock). */
export class PanelMemory {
  readonly ctl = new Int32Array(STATE_WORDS);
  /** Pump transition start times (model ns), one per pump. */
  readonly pumpSince = new BigInt64Array(3);
  /** The event queue: button and model time of its put. */
  readonly queue: Array<{ btn: ButtonName; putNs: bigint }> = [];
  processedCount = 0;

  /** Events currently in the event queue. */
  depth(): number {
    return this.queue.length;
  }

  processed(): number {
    return this.processedCount;
  }
}

/** The sim's seeded PRNG (mulberry32), one per thread. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** A duration in ns drawn uniformly from [loUs, hiUs] µs. */
  us(loUs: number, hiUs: number): bigint {
    return BigInt(Math.round(this.between(loUs, hiUs) * 1000));
  }
}

/** What a thread may print (at the model time it runs at). */
export interface ConsoleSink {
  /** One free-form line (the end-of-line is added). */
  line(text: string): void;
  /** One `HIL` line, stamped with the device clock at model time `tNs` (default: now). */
  hil(kind: string, fields?: Record<string, string | number>, tNs?: bigint): void;
}

/**
 * The firmware's console: every thread prints whole lines, and `HIL` sequence numbers are taken
 * as the line is printed, so on the wire they increase by exactly one. Lines are stamped with the
 * device clock at the model time the thread prints them. The bytes collect here until the pacer
 * hands them to the serial port.
 */
export class ModelConsole implements ConsoleSink {
  private seq = 0;
  private pending: string[] = [];

  constructor(
    private readonly clock: DeviceClock,
    private readonly eol: string,
    private readonly now: () => bigint,
  ) {}

  line(text: string): void {
    this.pending.push(text + this.eol);
  }

  hil(kind: string, fields: Record<string, string | number> = {}, tNs: bigint = this.now()): void {
    this.pending.push(formatHil(++this.seq, this.clock.nowUs(tNs), kind, fields) + this.eol);
  }

  /** Everything printed since the last take, or null. */
  take(): Buffer | null {
    if (this.pending.length === 0) return null;
    const b = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    return b;
  }
}
