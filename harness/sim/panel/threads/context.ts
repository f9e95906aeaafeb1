// What every modelled firmware thread gets: the shared model of one power-on (state, queue,
// console, locks, device clock), its own seeded draws and its heartbeat.
import type { DeviceClock } from '../../device-clock.ts';
import type { ButtonName } from '../../../devices/panel.ts';
import type { PanelFault } from '../faults.ts';
import type { Kernel, ModelCond, ModelMutex, Op } from '../model.ts';
import { Rng, THREAD_IDS, type ModelConsole, type PanelMemory, type ThreadName } from '../shared.ts';

/** How `q_put` reaches the wire (see PanelInstrumentation in faults.ts). */
export type WireOrder = 'atomic' | 'racy';

/** One edge as the interrupt thread receives it: the pin, its new level and the contact's time. */
export interface GpioEdge {
  pin: number;
  level: 0 | 1;
  tNs: bigint;
}

/** Everything the threads of one power-on share. */
export interface PanelModel {
  kernel: Kernel;
  mem: PanelMemory;
  clock: DeviceClock;
  out: ModelConsole;
  fault: PanelFault | null;
  wireOrder: WireOrder;
  rawEdges: boolean;
  seed: number;
  debounceMs: number;
  pins: ReadonlyMap<number, ButtonName>;
  stateLock: ModelMutex;
  queueLock: ModelMutex;
  /** Notified on every put (the processor waits on it). */
  queuePut: ModelCond;
  /** Notified on every get (a blocking put waits on it). */
  queueGet: ModelCond;
  /** Edges waiting for the interrupt thread, and its wake-up. */
  gpio: GpioEdge[];
  gpioCond: ModelCond;
  /** Ground truth at model time `t` (`src: 'pi'`; the thread name is added). */
  truth(kind: string, t: bigint, fields?: Record<string, unknown>): void;
  uartTx(line: string): void;
}

const HB_NS = 250_000_000n;

export class ThreadContext {
  readonly id: number;
  readonly rng: Rng;
  private nextHb: bigint;

  constructor(
    readonly m: PanelModel,
    readonly role: ThreadName,
  ) {
    this.id = THREAD_IDS[role];
    this.rng = new Rng(m.seed * 31 + this.id);
    this.nextHb = m.kernel.now;
  }

  get now(): bigint {
    return this.m.kernel.now;
  }

  get fault(): PanelFault | null {
    return this.m.fault;
  }

  truth(kind: string, t: bigint, fields: Record<string, unknown> = {}): void {
    this.m.truth(kind, t, { thread: this.role, ...fields });
  }

  /** Model time of this thread's next heartbeat. */
  get hbDue(): bigint {
    return this.nextHb;
  }

  /** Print `HIL hb` if one is due. Only a thread that gets back to its loop can beat. */
  heartbeat(): void {
    const now = this.now;
    if (now < this.nextHb) return;
    this.nextHb = now + HB_NS;
    this.m.out.hil('hb', { thread: this.role, depth: this.m.mem.depth(), processed: this.m.mem.processed() });
  }

  /** Sleep until model time `until`, beating on time meanwhile. */
  *idleUntil(until: bigint): Generator<Op, void, void> {
    for (;;) {
      this.heartbeat();
      if (this.now >= until) return;
      yield { op: 'sleep', until: until < this.nextHb ? until : this.nextHb };
    }
  }

  /** CPU work for a duration drawn from [loUs, hiUs] µs. */
  work(loUs: number, hiUs: number): Op {
    return { op: 'work', ns: this.rng.us(loUs, hiUs) };
  }

  /**
   * How long the device's scheduler takes to run this thread after it is woken (seeded): tens of
   * µs, now and then a few hundred (another thread had the core), never a millisecond.
   */
  wakeNs(): bigint {
    return this.rng.next() < 0.02 ? this.rng.us(100, 400) : this.rng.us(15, 60);
  }
}

export const lock = (m: ModelMutex): Op => ({ op: 'lock', m });
