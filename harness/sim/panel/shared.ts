// Shared-memory plumbing used by the main thread and every firmware thread: the memory layout,
// an Atomics mutex, the console ring and small timing helpers. Nothing here keeps module state.
import { DeviceClock, formatHil } from '../device-clock.ts';
import { mulberry32 } from '../prng.ts';

/** Capacity the firmware advertises for its event queue. */
export const QUEUE_CAP = 100;
/** Ring slots behind the event queue (> cap so that an off-by-one bound can really overfill). */
export const QUEUE_SLOTS = 128;
/** GPIO edge ring (main → interrupt thread). */
export const GPIO_SLOTS = 4096;
/** Console byte ring (all threads → main). */
export const OUT_BYTES = 1 << 20;

/** Indices into the control word array. Counters are free-running int32 (compare with `| 0`). */
export const C = {
  OUT_LOCK: 0,
  SEQ: 1,
  W_POS: 2,
  R_POS: 3,
  STATE_LOCK: 4,
  QUEUE_LOCK: 5,
  Q_HEAD: 6,
  Q_TAIL: 7,
  G_HEAD: 8,
  G_TAIL: 9,
  PROCESSED: 10,
  REACTOR: 11,
  PRESSURE: 12,
  PUMP0: 13, // 13..15
  ROD0: 16, // 16..18
  POWER: 19,
  STATE_LOCK_OWNER: 20,
  QUEUE_LOCK_OWNER: 21,
  OUT_LOCK_OWNER: 22,
  SLEEP: 23,
} as const;
const CTL_WORDS = 32;

/** Thread ids, also used as lock-owner ids. */
export const THREAD_IDS = { irq: 1, processor: 2, control: 3, esplink: 4, main: 5 } as const;
export type ThreadName = Exclude<keyof typeof THREAD_IDS, 'main'>;

/** The SharedArrayBuffers of one power-on; structured-cloneable into workers. */
export interface PanelBuffers {
  ctl: SharedArrayBuffer;
  times: SharedArrayBuffer;
  qBtn: SharedArrayBuffer;
  qT: SharedArrayBuffer;
  gEdge: SharedArrayBuffer;
  gT: SharedArrayBuffer;
  out: SharedArrayBuffer;
}

/** Typed views over {@link PanelBuffers}. */
export class PanelMemory {
  readonly ctl: Int32Array;
  /** Pump transition start times (host ns), one per pump. */
  readonly pumpSince: BigInt64Array;
  readonly qBtn: Int32Array;
  readonly qT: BigInt64Array;
  /** GPIO ring entry: `pin << 1 | level`. */
  readonly gEdge: Int32Array;
  readonly gT: BigInt64Array;
  readonly out: Uint8Array;

  constructor(readonly buffers: PanelBuffers) {
    this.ctl = new Int32Array(buffers.ctl);
    this.pumpSince = new BigInt64Array(buffers.times);
    this.qBtn = new Int32Array(buffers.qBtn);
    this.qT = new BigInt64Array(buffers.qT);
    this.gEdge = new Int32Array(buffers.gEdge);
    this.gT = new BigInt64Array(buffers.gT);
    this.out = new Uint8Array(buffers.out);
  }

  static create(): PanelMemory {
    return new PanelMemory({
      ctl: new SharedArrayBuffer(CTL_WORDS * 4),
      times: new SharedArrayBuffer(8 * 8),
      qBtn: new SharedArrayBuffer(QUEUE_SLOTS * 4),
      qT: new SharedArrayBuffer(QUEUE_SLOTS * 8),
      gEdge: new SharedArrayBuffer(GPIO_SLOTS * 4),
      gT: new SharedArrayBuffer(GPIO_SLOTS * 8),
      out: new SharedArrayBuffer(OUT_BYTES),
    });
  }

  /** Events currently in the event queue. */
  depth(): number {
    return (Atomics.load(this.ctl, C.Q_TAIL) - Atomics.load(this.ctl, C.Q_HEAD)) | 0;
  }

  processed(): number {
    return Atomics.load(this.ctl, C.PROCESSED);
  }
}

/** Host monotonic time, ns. */
export const nowNs = (): bigint => process.hrtime.bigint();

/** Burn CPU until `ms` have passed (the "real work" of a firmware step). Returns a checksum so the loop is not optimised away. */
export function spin(ms: number): number {
  const end = nowNs() + BigInt(Math.round(ms * 1e6));
  let x = 0;
  while (nowNs() < end) for (let i = 0; i < 200; i++) x = (x * 31 + i) | 0;
  return x;
}

/** Block this thread for `ms` (an I/O wait, not CPU). */
export function sleep(mem: PanelMemory, ms: number): void {
  if (ms > 0) Atomics.wait(mem.ctl, C.SLEEP, 0, ms);
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
}

/**
 * A futex-style mutex on one int32 (0 free, 1 held, 2 held with waiters). `lock` blocks in
 * Atomics.wait, really: a deadlock here is a deadlock. `onWait` hears about every contended
 * acquisition; `onStuck` once per acquisition that has waited longer than `stuckMs`.
 */
export class Mutex {
  constructor(
    private readonly ctl: Int32Array,
    private readonly idx: number,
    private readonly ownerIdx: number,
    readonly name: string,
    private readonly hooks: {
      onWait?: (waitNs: bigint, holder: number) => void;
      onStuck?: (holder: number) => void;
      stuckMs?: number;
    } = {},
  ) {}

  lock(owner: number): void {
    let c = Atomics.compareExchange(this.ctl, this.idx, 0, 1);
    if (c !== 0) {
      const t0 = nowNs();
      const holder = Atomics.load(this.ctl, this.ownerIdx);
      const stuckNs = BigInt((this.hooks.stuckMs ?? 1000) * 1e6);
      let reported = false;
      if (c !== 2) c = Atomics.exchange(this.ctl, this.idx, 2);
      while (c !== 0) {
        Atomics.wait(this.ctl, this.idx, 2, 250);
        c = Atomics.exchange(this.ctl, this.idx, 2);
        if (c !== 0 && !reported && nowNs() - t0 > stuckNs) {
          reported = true;
          this.hooks.onStuck?.(Atomics.load(this.ctl, this.ownerIdx));
        }
      }
      this.hooks.onWait?.(nowNs() - t0, holder);
    }
    Atomics.store(this.ctl, this.ownerIdx, owner);
  }

  unlock(): void {
    Atomics.store(this.ctl, this.ownerIdx, 0);
    if (Atomics.sub(this.ctl, this.idx, 1) !== 1) {
      Atomics.store(this.ctl, this.idx, 0);
      Atomics.notify(this.ctl, this.idx, 1);
    }
  }
}

/** What a thread may print while it holds the console lock. */
export interface ConsoleSink {
  /** One free-form line (the end-of-line is added). */
  line(text: string): void;
  /** One `HIL` line; `tUs` defaults to the device clock now. */
  hil(kind: string, fields?: Record<string, string | number>, tUs?: number): void;
}

/**
 * The firmware's console: every thread writes whole lines into one shared byte ring under one
 * lock, and `HIL` sequence numbers are taken under that same lock, so on the wire they increase by
 * exactly one. A full ring blocks the writer, like a full UART transmit buffer.
 */
export class ConsoleWriter {
  private readonly enc = new TextEncoder();
  private readonly lock: Mutex;
  private readonly sink: ConsoleSink;

  constructor(
    private readonly mem: PanelMemory,
    private readonly clock: DeviceClock,
    private readonly eol: string,
    private readonly owner: number,
  ) {
    this.lock = new Mutex(mem.ctl, C.OUT_LOCK, C.OUT_LOCK_OWNER, 'console');
    this.sink = {
      line: (text) => this.write(text + this.eol),
      hil: (kind, fields = {}, tUs = this.clock.nowUs()) => {
        const seq = (Atomics.load(this.mem.ctl, C.SEQ) + 1) | 0;
        Atomics.store(this.mem.ctl, C.SEQ, seq);
        this.write(formatHil(seq, tUs, kind, fields) + this.eol);
      },
    };
  }

  /** Run `fn` holding the console lock; everything it prints appears contiguously. */
  locked<T>(fn: (out: ConsoleSink) => T): T {
    this.lock.lock(this.owner);
    try {
      return fn(this.sink);
    } finally {
      Atomics.notify(this.mem.ctl, C.W_POS);
      this.lock.unlock();
    }
  }

  line(text: string): void {
    this.locked((o) => o.line(text));
  }

  hil(kind: string, fields?: Record<string, string | number>, tUs?: number): void {
    this.locked((o) => o.hil(kind, fields, tUs));
  }

  private write(text: string): void {
    const bytes = this.enc.encode(text);
    const ctl = this.mem.ctl;
    const w = Atomics.load(ctl, C.W_POS);
    while (OUT_BYTES - ((w - Atomics.load(ctl, C.R_POS)) | 0) < bytes.length) {
      Atomics.notify(ctl, C.W_POS);
      Atomics.wait(ctl, C.R_POS, Atomics.load(ctl, C.R_POS), 5);
    }
    const at = (w >>> 0) % OUT_BYTES;
    const first = Math.min(bytes.length, OUT_BYTES - at);
    this.mem.out.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.mem.out.set(bytes.subarray(first), 0);
    Atomics.store(ctl, C.W_POS, (w + bytes.length) | 0);
  }
}

/** Main side of the console ring: take everything written so far (whole lines), or null. */
export function drainConsole(mem: PanelMemory): Buffer | null {
  const ctl = mem.ctl;
  const r = Atomics.load(ctl, C.R_POS);
  const w = Atomics.load(ctl, C.W_POS);
  const n = (w - r) | 0;
  if (n === 0) return null;
  const at = (r >>> 0) % OUT_BYTES;
  const first = Math.min(n, OUT_BYTES - at);
  const buf = Buffer.allocUnsafe(n);
  buf.set(mem.out.subarray(at, at + first), 0);
  if (first < n) buf.set(mem.out.subarray(0, n - first), first);
  Atomics.store(ctl, C.R_POS, w);
  Atomics.notify(ctl, C.R_POS);
  return buf;
}
