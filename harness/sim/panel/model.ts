// A small discrete-event kernel for the panel firmware's threads. Model time is in host
// nanoseconds (the same CLOCK_MONOTONIC the ground truth uses), but it only advances by what the
// model says: a thread's work costs what its firmware model draws from the seed, a thread waiting
// on a lock waits until the holder lets go in model time, an input happens at its own time. The
// host's scheduler decides only *when* the model gets to run (see PanelFirmware's pacer), never
// what it computes.

/** What a firmware thread asks of the kernel when it yields. */
export type Op =
  /** CPU work: the thread resumes `ns` later. */
  | { op: 'work'; ns: bigint }
  /** Block until model time `until` (an I/O wait, a sleep). */
  | { op: 'sleep'; until: bigint }
  /** Take a mutex; blocks for as long as another thread holds it (for ever, in a deadlock). */
  | { op: 'lock'; m: ModelMutex }
  /** Block until `cond` is notified, or until model time `until` if given. */
  | { op: 'wait'; cond: ModelCond; until?: bigint };

/** A firmware thread's body: runs synchronously between yields, at the kernel's `now`. */
export type ThreadBody = Generator<Op, void, void>;

interface Event {
  t: bigint;
  seq: number;
  run: () => void;
}

/** Binary min-heap of events by (t, seq): equal times run in the order they were scheduled. */
class EventHeap {
  private readonly a: Event[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Event | undefined {
    return this.a[0];
  }
  push(e: Event): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Event | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.a.length = 0;
  }
}
const before = (x: Event, y: Event): boolean => x.t < y.t || (x.t === y.t && x.seq < y.seq);

/** One modelled thread. */
export class ModelThread {
  /** `running` between resumes is impossible: the kernel runs one thread at a time, to its next yield. */
  state: 'ready' | 'blocked' | 'done' = 'ready';
  /** Bumped on every wake-up, so a stale timeout or notify cannot resume it twice. */
  token = 0;
  constructor(
    readonly name: string,
    readonly id: number,
    readonly body: ThreadBody,
  ) {}
}

/** Hooks the kernel calls; the firmware turns them into ground truth. */
export interface KernelHooks {
  /** A thread's body threw (an uncaught exception ends that thread only). */
  onThreadError?: (thread: ModelThread, error: unknown) => void;
  /** A contended lock was finally acquired after `waitedNs`. */
  onLockWait?: (thread: ModelThread, lock: string, waitedNs: bigint, holder: ModelThread | undefined) => void;
  /** A thread has waited `stuckNs` for a lock and still has not got it. */
  onLockStuck?: (thread: ModelThread, lock: string, holder: ModelThread | undefined) => void;
}

/** The scheduler of one power-on: its model clock, its threads, its pending events. */
export class Kernel {
  private readonly heap = new EventHeap();
  private seq = 0;
  private nowNs: bigint;
  private stopped = false;
  /** How long a lock wait lasts before `onLockStuck`. */
  readonly stuckNs = 1_000_000_000n;

  constructor(
    startNs: bigint,
    private readonly hooks: KernelHooks = {},
  ) {
    this.nowNs = startNs;
  }

  /** Model time now (ns, host clock domain). */
  get now(): bigint {
    return this.nowNs;
  }

  /** Time of the next pending event, if any. */
  get nextAt(): bigint | undefined {
    return this.heap.peek()?.t;
  }

  /** Run `fn` at model time `t` (clamped to now: the model never goes back). */
  at(t: bigint, fn: () => void): void {
    if (this.stopped) return;
    this.heap.push({ t: t < this.nowNs ? this.nowNs : t, seq: this.seq++, run: fn });
  }

  /** Start a thread at model time `t`. */
  spawn(name: string, id: number, body: ThreadBody, t: bigint = this.nowNs): ModelThread {
    const th = new ModelThread(name, id, body);
    this.at(t, () => this.resume(th));
    return th;
  }

  /** Process every event due at or before `until`, in time order. Returns how many ran. */
  runUntil(until: bigint): number {
    let n = 0;
    for (let e = this.heap.peek(); e && e.t <= until && !this.stopped; e = this.heap.peek()) {
      this.heap.pop();
      this.nowNs = e.t;
      e.run();
      n++;
    }
    if (!this.stopped && until > this.nowNs) this.nowNs = until;
    return n;
  }

  /** Power loss: nothing more runs. */
  stop(): void {
    this.stopped = true;
    this.heap.clear();
  }

  /** Wake a blocked thread now (used by mutexes and condition variables). */
  wake(th: ModelThread, token: number, t: bigint = this.nowNs): void {
    this.at(t, () => {
      if (th.state !== 'blocked' || th.token !== token) return;
      this.resume(th);
    });
  }

  private resume(th: ModelThread): void {
    th.state = 'ready';
    th.token++;
    for (;;) {
      let r: IteratorResult<Op, void>;
      try {
        r = th.body.next();
      } catch (e) {
        th.state = 'done';
        this.hooks.onThreadError?.(th, e);
        return;
      }
      if (r.done) {
        th.state = 'done';
        return;
      }
      const op = r.value;
      const token = th.token;
      switch (op.op) {
        case 'work':
          th.state = 'blocked';
          this.wake(th, token, this.nowNs + (op.ns > 0n ? op.ns : 0n));
          return;
        case 'sleep':
          th.state = 'blocked';
          this.wake(th, token, op.until);
          return;
        case 'lock':
          if (op.m.tryTake(th)) continue;
          th.state = 'blocked';
          op.m.enqueue(th, this.nowNs);
          this.at(this.nowNs + this.stuckNs, () => {
            if (th.state === 'blocked' && th.token === token && op.m.isWaiting(th)) this.hooks.onLockStuck?.(th, op.m.name, op.m.owner);
          });
          return;
        case 'wait':
          th.state = 'blocked';
          op.cond.add(th, token);
          if (op.until !== undefined) this.wake(th, token, op.until);
          return;
      }
    }
  }

  /** A thread got a lock it was waiting for (called by ModelMutex.unlock). */
  handOver(m: ModelMutex, th: ModelThread, waitedNs: bigint, holder: ModelThread | undefined): void {
    this.hooks.onLockWait?.(th, m.name, waitedNs, holder);
    this.wake(th, th.token);
  }
}

/** A mutex in model time. FIFO hand-over: the unlocker passes it to the longest waiter. */
export class ModelMutex {
  owner: ModelThread | undefined;
  private readonly waiters: Array<{ th: ModelThread; since: bigint }> = [];

  constructor(
    private readonly kernel: Kernel,
    readonly name: string,
  ) {}

  tryTake(th: ModelThread): boolean {
    if (this.owner !== undefined) return false;
    this.owner = th;
    return true;
  }

  enqueue(th: ModelThread, since: bigint): void {
    this.waiters.push({ th, since });
  }

  isWaiting(th: ModelThread): boolean {
    return this.waiters.some((w) => w.th === th);
  }

  /** Release; called synchronously from the owning thread's code. */
  unlock(): void {
    const prev = this.owner;
    const next = this.waiters.shift();
    this.owner = next?.th;
    if (next) this.kernel.handOver(this, next.th, this.kernel.now - next.since, prev);
  }
}

/** A condition variable: `notify` wakes every waiter, each after its own wake-up latency. */
export class ModelCond {
  private waiters: Array<{ th: ModelThread; token: number }> = [];

  constructor(private readonly kernel: Kernel) {}

  add(th: ModelThread, token: number): void {
    this.waiters.push({ th, token });
  }

  /** Wake every waiter, `latencyNs(thread)` from now (the OS scheduler's wake-up time on the device). */
  notify(latencyNs: (th: ModelThread) => bigint = () => 0n): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) this.kernel.wake(w.th, w.token, this.kernel.now + latencyNs(w.th));
  }
}
