// Interrupt context: RPi.GPIO's edge thread. Takes edges from the GPIO ring, debounces them on
// their own timestamps and runs the button callback, which (in v3.3) only enqueues.
import { BUTTONS, type ButtonName } from '../buttons.ts';
import { C, GPIO_SLOTS, QUEUE_CAP, QUEUE_SLOTS, nowNs, spin, type ConsoleSink } from '../shared.ts';
import { stateFields } from '../state.ts';
import type { ThreadContext } from './context.ts';

export function runIrq(ctx: ThreadContext): never {
  const { mem } = ctx;
  const ctl = mem.ctl;
  const buttons = new Map<number, ButtonName>(ctx.init.pins);
  const lastLevel = new Map<number, number>();
  const lastAccepted = new Map<number, bigint>();
  const debounceNs = ctx.fault === 'no-debounce' ? 0n : BigInt(Math.round(ctx.init.debounceMs * 1e6));

  ctx.post({ t: 'ready', role: 'irq' });
  for (;;) {
    ctx.heartbeat();
    const head = Atomics.load(ctl, C.G_HEAD);
    const tail = Atomics.load(ctl, C.G_TAIL);
    if (head === tail) {
      Atomics.wait(ctl, C.G_TAIL, tail, ctx.hbInMs() + 0.01);
      continue;
    }
    const slot = (head >>> 0) % GPIO_SLOTS;
    const packed = mem.gEdge[slot]!;
    const tNs = mem.gT[slot]!;
    Atomics.store(ctl, C.G_HEAD, (head + 1) | 0);
    // The bench schedules edges slightly ahead; the device sees them when they happen.
    if (tNs > nowNs()) ctx.idleUntil(tNs);
    const pin = packed >> 1;
    const level = packed & 1;
    if ((lastLevel.get(pin) ?? 1) === level) continue; // pulled up: starts high
    lastLevel.set(pin, level);
    const prev = lastAccepted.get(pin);
    const btn = buttons.get(pin);
    if (prev !== undefined && debounceNs > 0n && (tNs > prev ? tNs - prev : prev - tNs) < debounceNs) {
      ctx.truth('edge_bounce', tNs, { pin, level, btn, since_accepted_ns: tNs - prev });
      continue;
    }
    lastAccepted.set(pin, tNs);
    ctx.out.hil('edge', { pin, level });
    ctx.truth('edge', tNs, { pin, level, btn, seen_ns: nowNs() });
    if (level === 0 && btn !== undefined) callback(ctx, btn, pin);
  }
}

/** The GPIO callback. Its `cb` line reports its own duration. */
function callback(ctx: ThreadContext, btn: ButtonName, pin: number): void {
  const t0 = nowNs();
  const { fault } = ctx;
  if (fault === 'slow-callback') slowDebugDump(ctx, btn, pin, t0);
  if (fault === 'lock-in-callback') {
    // v3.2: "remember the last press for the display" under the state lock, then put through
    // the locked queue while still holding it. The processor takes these in the opposite order.
    ctx.stateLock.lock(ctx.id);
    spin(ctx.rng.between(0.8, 1.2));
    ctx.queueLock.lock(ctx.id);
    try {
      enqueue(ctx, btn);
    } finally {
      ctx.queueLock.unlock();
      ctx.stateLock.unlock();
    }
  } else {
    enqueue(ctx, btn);
  }
  ctx.out.hil('cb', { btn, dur_us: Number((nowNs() - t0) / 1000n) });
}

function enqueue(ctx: ThreadContext, btn: ButtonName): void {
  const { mem, fault } = ctx;
  const ctl = mem.ctl;
  const isFull = (): boolean => (fault === 'bound-off-by-one' ? mem.depth() > QUEUE_CAP : mem.depth() >= QUEUE_CAP);
  if (isFull() && fault === 'blocking-put') {
    // queue.put(block=True) from the callback: wait for the processor to make room.
    const t0 = nowNs();
    while (isFull()) Atomics.wait(ctl, C.Q_HEAD, Atomics.load(ctl, C.Q_HEAD), 100);
    ctx.truth('q_block', t0, { btn, blocked_ns: nowNs() - t0 });
  }
  if (isFull()) {
    const depth = mem.depth();
    ctx.truth('q_drop', nowNs(), { btn, depth, cap: QUEUE_CAP, silent: fault === 'silent-drop' });
    if (fault === 'silent-drop') return;
    ctx.out.locked((o: ConsoleSink) => {
      o.hil('q_drop', { btn, depth, cap: QUEUE_CAP });
      o.line(`⚠️  Event queue full, dropping ${btn}`);
    });
    return;
  }
  // The put and its q_put line happen under the console lock so that a q_get can never reach the
  // wire before the q_put of the same event.
  ctx.out.locked((o: ConsoleSink) => {
    const tail = Atomics.load(ctl, C.Q_TAIL);
    const slot = (tail >>> 0) % QUEUE_SLOTS;
    const t = nowNs();
    mem.qBtn[slot] = BUTTONS.indexOf(btn);
    mem.qT[slot] = t;
    Atomics.store(ctl, C.Q_TAIL, (tail + 1) | 0);
    Atomics.notify(ctl, C.Q_TAIL);
    const depth = mem.depth();
    o.line(`⚡ Queued: ${btn}`);
    o.hil('q_put', { btn, depth, cap: QUEUE_CAP });
    ctx.truth('q_put', t, { btn, depth });
  });
}

/** The slow-callback bug: a debug dump formatted and logged from inside the callback. */
function slowDebugDump(ctx: ThreadContext, btn: ButtonName, pin: number, t0: bigint): void {
  const end = t0 + BigInt(Math.round(ctx.rng.between(2, 5) * 1e6));
  let dump = '';
  while (nowNs() < end) {
    dump = JSON.stringify({ btn, pin, t: String(nowNs()), depth: ctx.mem.depth(), state: stateFields(ctx.mem) });
  }
  ctx.out.line(`DEBUG on_button ${dump}`);
}
