// Event processor: takes events off the queue, applies each under the state lock (~1 ms of
// work), then refreshes the display outside the lock (~8 ms, the part that sets the sustained
// rate near 100 events/s).
import type { ButtonName } from '../../../devices/panel.ts';
import type { Op } from '../model.ts';
import { applyButton, stateFields } from '../state.ts';
import { lock, type ThreadContext } from './context.ts';

const STATS_EVERY = 50;

/** Thrown (after the traceback is printed) to end the thread the way the Python thread ends. */
export class ProcessorCrash extends Error {}

export function* runProcessor(ctx: ThreadContext): Generator<Op, void, void> {
  const { m } = ctx;
  const lockedQueue = ctx.fault === 'lock-in-callback';
  for (;;) {
    ctx.heartbeat();
    if (m.mem.depth() === 0) {
      yield { op: 'wait', cond: m.queuePut, until: ctx.hbDue };
      yield { op: 'work', ns: ctx.wakeNs() };
      continue;
    }
    // v3.2 pulls from its queue under the queue lock and keeps it while it takes the state lock.
    if (lockedQueue) yield lock(m.queueLock);
    try {
      const btn = take(ctx);
      if (lockedQueue) yield ctx.work(1200, 1800); // queue statistics for the display, under the queue lock
      yield* handle(ctx, btn);
    } finally {
      if (lockedQueue) m.queueLock.unlock();
    }
    const n = ++m.mem.processedCount;
    if (n % STATS_EVERY === 0) m.out.line(`📊 Processed ${n} events`);
    ctx.heartbeat();
    yield { op: 'sleep', until: ctx.now + ctx.rng.us(7500, 8500) }; // display refresh (SPI), outside the lock
  }
}

function take(ctx: ThreadContext): ButtonName {
  const { m } = ctx;
  const ev = m.mem.queue.shift()!;
  m.queueGet.notify();
  const t = ctx.now;
  const depth = m.mem.depth();
  m.out.hil('q_get', { btn: ev.btn, depth, wait_us: m.clock.nowUs(t) - m.clock.nowUs(ev.putNs) });
  ctx.truth('q_get', t, { btn: ev.btn, depth, put_ns: ev.putNs });
  return ev.btn;
}

function* handle(ctx: ThreadContext, btn: ButtonName): Generator<Op, void, void> {
  const { m } = ctx;
  const t0 = ctx.now;
  let crash: string[] | undefined;
  yield lock(m.stateLock);
  try {
    const r = applyButton(m.mem, btn, ctx.now, ctx.fault === 'stuck-processor');
    if (r.crash) {
      crash = r.crash;
    } else {
      yield ctx.work(1000, 1150);
      const fields = stateFields(m.mem);
      for (const l of r.lines) m.out.line(l);
      if (r.warn) m.out.hil('warn', { msg: r.warn });
      m.out.hil('done', { btn, dur_us: Number((ctx.now - t0) / 1000n) });
      if (r.changed) m.out.hil('state', fields);
      ctx.truth('done', ctx.now, { btn, changed: r.changed, ...fields });
    }
  } finally {
    m.stateLock.unlock(); // `with state_lock:` releases on the way out of an exception too
  }
  if (crash) {
    yield ctx.work(200, 400); // the interpreter formats the traceback
    for (const l of crash) m.out.line(l);
    ctx.truth('thread_crash', ctx.now, { btn, error: crash[crash.length - 1] });
    throw new ProcessorCrash(crash[crash.length - 1]);
  }
}
