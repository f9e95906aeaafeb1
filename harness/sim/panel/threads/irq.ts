// Interrupt context: RPi.GPIO's edge thread. Takes edges in the order of their contact times,
// debounces them on those times and runs the button callback, which (in v3.3) only enqueues.
import type { ButtonName } from '../../../devices/panel.ts';
import type { Op } from '../model.ts';
import { GPIO_SLOTS, QUEUE_CAP, type ConsoleSink } from '../shared.ts';
import { stateFields } from '../state.ts';
import { lock, type ThreadContext } from './context.ts';

export { GPIO_SLOTS };

export function* runIrq(ctx: ThreadContext): Generator<Op, void, void> {
  const { m } = ctx;
  const lastLevel = new Map<number, number>();
  const lastAccepted = new Map<number, bigint>();
  const debounceNs = ctx.fault === 'no-debounce' ? 0n : BigInt(Math.round(m.debounceMs * 1e6));

  for (;;) {
    ctx.heartbeat();
    const edge = m.gpio.shift();
    if (!edge) {
      yield { op: 'wait', cond: m.gpioCond, until: ctx.hbDue };
      continue;
    }
    const { pin, level, tNs } = edge;
    if ((lastLevel.get(pin) ?? 1) === level) continue; // pulled up: starts high
    lastLevel.set(pin, level);
    const prev = lastAccepted.get(pin);
    const btn = m.pins.get(pin);
    const bounced = prev !== undefined && debounceNs > 0n && (tNs > prev ? tNs - prev : prev - tNs) < debounceNs;
    // The edge line is stamped when this thread takes the edge: at the contact's time when the
    // thread was waiting for it, later when a callback still held it.
    if (!bounced || m.rawEdges) m.out.hil('edge', { pin, level });
    if (bounced) {
      ctx.truth('edge_bounce', tNs, { pin, level, btn, since_accepted_ns: tNs - prev });
      continue;
    }
    lastAccepted.set(pin, tNs);
    ctx.truth('edge', tNs, { pin, level, btn, seen_ns: ctx.now });
    if (level === 0 && btn !== undefined) {
      yield { op: 'work', ns: ctx.wakeNs() }; // dispatch to the Python callback
      yield* callback(ctx, btn, pin);
    }
  }
}

/** The GPIO callback. Its `cb` line reports its own duration. */
function* callback(ctx: ThreadContext, btn: ButtonName, pin: number): Generator<Op, void, void> {
  const { m } = ctx;
  const t0 = ctx.now;
  if (ctx.fault === 'slow-callback') yield* slowDebugDump(ctx, btn, pin);
  if (ctx.fault === 'lock-in-callback') {
    // v3.2: "remember the last press for the display" under the state lock, then put through
    // the locked queue while still holding it. The processor takes these in the opposite order.
    yield lock(m.stateLock);
    yield ctx.work(800, 1200);
    yield lock(m.queueLock);
    try {
      yield* enqueue(ctx, btn);
    } finally {
      m.queueLock.unlock();
      m.stateLock.unlock();
    }
  } else {
    yield* enqueue(ctx, btn);
  }
  yield ctx.work(3, 10);
  m.out.hil('cb', { btn, dur_us: Number((ctx.now - t0) / 1000n) });
}

function* enqueue(ctx: ThreadContext, btn: ButtonName): Generator<Op, void, void> {
  const { m } = ctx;
  const { mem, fault } = m;
  const isFull = (): boolean => (fault === 'bound-off-by-one' ? mem.depth() > QUEUE_CAP : mem.depth() >= QUEUE_CAP);
  yield ctx.work(5, 20); // queue.put_nowait: the GIL, the queue's own mutex
  if (isFull() && fault === 'blocking-put') {
    // queue.put(block=True) from the callback: wait for the processor to make room.
    const t0 = ctx.now;
    while (isFull()) {
      yield { op: 'wait', cond: m.queueGet };
      yield { op: 'work', ns: ctx.wakeNs() };
    }
    ctx.truth('q_block', t0, { btn, blocked_ns: ctx.now - t0 });
  }
  if (isFull()) {
    const depth = mem.depth();
    ctx.truth('q_drop', ctx.now, { btn, depth, cap: QUEUE_CAP, silent: fault === 'silent-drop' });
    if (fault === 'silent-drop') return;
    m.out.hil('q_drop', { btn, depth, cap: QUEUE_CAP });
    m.out.line(`⚠️  Event queue full, dropping ${btn}`);
    return;
  }
  const t = ctx.now;
  mem.queue.push({ btn, putNs: t });
  m.queuePut.notify();
  ctx.truth('q_put', t, { btn, depth: mem.depth() });
  if (m.wireOrder === 'racy') {
    // Instrumentation as most multi-threaded firmware has it: the line is printed after the put
    // returns, so the processor may already have taken the event (and printed q_get) by then.
    yield ctx.work(10, 90);
  }
  printPut(m.out, btn, mem.depth());
}

function printPut(o: ConsoleSink, btn: ButtonName, depth: number): void {
  o.line(`⚡ Queued: ${btn}`);
  o.hil('q_put', { btn, depth, cap: QUEUE_CAP });
}

/** The slow-callback bug: a debug dump formatted and logged from inside the callback (2–5 ms). */
function* slowDebugDump(ctx: ThreadContext, btn: ButtonName, pin: number): Generator<Op, void, void> {
  yield ctx.work(2000, 5000);
  const dump = JSON.stringify({ btn, pin, t: String(ctx.now), depth: ctx.m.mem.depth(), state: stateFields(ctx.m.mem) });
  ctx.m.out.line(`DEBUG on_button ${dump}`);
}
