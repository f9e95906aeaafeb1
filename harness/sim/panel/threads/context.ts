// What every firmware thread gets: shared memory, its device clock, the console, the locks and a
// way to report ground truth to the main thread.
import { parentPort } from 'node:worker_threads';
import { DeviceClock } from '../../device-clock.ts';
import type { ButtonName } from '../buttons.ts';
import type { PanelFault } from '../faults.ts';
import { C, ConsoleWriter, Mutex, PanelMemory, Rng, THREAD_IDS, nowNs, type PanelBuffers, type ThreadName } from '../shared.ts';

/** workerData of a firmware thread. */
export interface ThreadInit {
  role: ThreadName;
  buffers: PanelBuffers;
  bootHostNs: bigint;
  offsetUs: number;
  driftPpm: number;
  eol: string;
  fault: PanelFault | null;
  seed: number;
  debounceMs: number;
  pins: Array<[number, ButtonName]>;
}

/** Messages a firmware thread posts to the main thread. */
export type ThreadMessage =
  | { t: 'ready'; role: ThreadName }
  | { t: 'truth'; kind: string; at: bigint; fields: Record<string, unknown> }
  | { t: 'uart'; line: string };

const HB_MS = 250;
const OWNER_NAMES: Record<number, string> = Object.fromEntries(Object.entries(THREAD_IDS).map(([k, v]) => [v, k]));

export class ThreadContext {
  readonly mem: PanelMemory;
  readonly clock: DeviceClock;
  readonly out: ConsoleWriter;
  readonly id: number;
  readonly rng: Rng;
  readonly stateLock: Mutex;
  readonly queueLock: Mutex;
  private nextHb: bigint;

  constructor(readonly init: ThreadInit) {
    this.mem = new PanelMemory(init.buffers);
    this.clock = new DeviceClock({ bootHostNs: init.bootHostNs, offsetUs: init.offsetUs, driftPpm: init.driftPpm });
    this.id = THREAD_IDS[init.role];
    this.out = new ConsoleWriter(this.mem, this.clock, init.eol, this.id);
    this.rng = new Rng(init.seed * 31 + this.id);
    const hooks = (lock: string) => ({
      onWait: (waitNs: bigint, holder: number) =>
        this.truth('lock_wait', nowNs(), { lock, waited_ns: waitNs, holder: OWNER_NAMES[holder] ?? holder }),
      onStuck: (holder: number) => this.truth('lock_stuck', nowNs(), { lock, holder: OWNER_NAMES[holder] ?? holder }),
      stuckMs: 1000,
    });
    this.stateLock = new Mutex(this.mem.ctl, C.STATE_LOCK, C.STATE_LOCK_OWNER, 'state', hooks('state'));
    this.queueLock = new Mutex(this.mem.ctl, C.QUEUE_LOCK, C.QUEUE_LOCK_OWNER, 'queue', hooks('queue'));
    this.nextHb = nowNs();
  }

  get fault(): PanelFault | null {
    return this.init.fault;
  }

  post(m: ThreadMessage): void {
    parentPort?.postMessage(m);
  }

  /** Ground truth at true host time `at`; the main thread adds `src: 'pi'` and the thread name. */
  truth(kind: string, at: bigint, fields: Record<string, unknown> = {}): void {
    this.post({ t: 'truth', kind, at, fields });
  }

  /** ms until this thread's next heartbeat is due (0 if overdue). */
  hbInMs(): number {
    const d = Number(this.nextHb - nowNs()) / 1e6;
    return d > 0 ? d : 0;
  }

  /** Print `HIL hb` if one is due. Only a thread that gets back to its loop can beat. */
  heartbeat(): void {
    const now = nowNs();
    if (now < this.nextHb) return;
    this.nextHb = now + BigInt(HB_MS * 1e6);
    this.out.hil('hb', { thread: this.init.role, depth: this.mem.depth(), processed: this.mem.processed() });
  }

  /** Sleep until host time `until`, beating on time meanwhile. */
  idleUntil(until: bigint): void {
    for (;;) {
      this.heartbeat();
      const left = Number(until - nowNs()) / 1e6;
      if (left <= 0) return;
      Atomics.wait(this.mem.ctl, C.SLEEP, 0, Math.min(left, this.hbInMs() + 0.01));
    }
  }
}
