// Event processor: takes events off the queue, applies each under the state lock, then refreshes
// the display outside the lock (the slow part that sets the sustained rate near 100 events/s).
import { BUTTONS, type ButtonName } from '../buttons.ts';
import { C, QUEUE_SLOTS, nowNs, sleep, spin, type ConsoleSink } from '../shared.ts';
import { applyButton, stateFields } from '../state.ts';
import type { ThreadContext } from './context.ts';

const STATS_EVERY = 50;
const WORK_MS = 1;
const DISPLAY_MS = 8;

/** Thrown (after the traceback is printed) to end the thread the way the Python thread ends. */
export class ProcessorCrash extends Error {}

export function runProcessor(ctx: ThreadContext): never {
  const { mem } = ctx;
  const ctl = mem.ctl;
  const lockedQueue = ctx.fault === 'lock-in-callback';
  ctx.post({ t: 'ready', role: 'processor' });
  for (;;) {
    ctx.heartbeat();
    const tail = Atomics.load(ctl, C.Q_TAIL);
    if (tail === Atomics.load(ctl, C.Q_HEAD)) {
      Atomics.wait(ctl, C.Q_TAIL, tail, ctx.hbInMs() + 0.01);
      continue;
    }
    // v3.2 pulls from its queue under the queue lock and keeps it while it takes the state lock.
    if (lockedQueue) ctx.queueLock.lock(ctx.id);
    try {
      const btn = take(ctx);
      if (lockedQueue) spin(ctx.rng.between(1.2, 1.8)); // queue statistics for the display, under the queue lock
      handle(ctx, btn);
    } finally {
      if (lockedQueue) ctx.queueLock.unlock();
    }
    const n = Atomics.add(ctl, C.PROCESSED, 1) + 1;
    if (n % STATS_EVERY === 0) ctx.out.line(`📊 Processed ${n} events`);
    ctx.heartbeat();
    sleep(mem, ctx.rng.between(DISPLAY_MS - 0.5, DISPLAY_MS + 0.5)); // display refresh (SPI), outside the lock
  }
}

function take(ctx: ThreadContext): ButtonName {
  const { mem } = ctx;
  const ctl = mem.ctl;
  return ctx.out.locked((o: ConsoleSink) => {
    const head = Atomics.load(ctl, C.Q_HEAD);
    const slot = (head >>> 0) % QUEUE_SLOTS;
    const btn = BUTTONS[mem.qBtn[slot]!]!;
    const putNs = mem.qT[slot]!;
    Atomics.store(ctl, C.Q_HEAD, (head + 1) | 0);
    Atomics.notify(ctl, C.Q_HEAD);
    const t = nowNs();
    const depth = mem.depth();
    o.hil('q_get', { btn, depth, wait_us: ctx.clock.nowUs(t) - ctx.clock.nowUs(putNs) });
    ctx.truth('q_get', t, { btn, depth, put_ns: putNs });
    return btn;
  });
}

function handle(ctx: ThreadContext, btn: ButtonName): void {
  const t0 = nowNs();
  let crash: string[] | undefined;
  ctx.stateLock.lock(ctx.id);
  try {
    const r = applyButton(ctx.mem, btn, nowNs(), ctx.fault === 'stuck-processor');
    if (r.crash) {
      crash = r.crash;
    } else {
      spin(WORK_MS);
      const fields = stateFields(ctx.mem);
      ctx.out.locked((o: ConsoleSink) => {
        for (const l of r.lines) o.line(l);
        if (r.warn) o.hil('warn', { msg: r.warn });
        o.hil('done', { btn, dur_us: Number((nowNs() - t0) / 1000n) });
        if (r.changed) o.hil('state', fields);
      });
      ctx.truth('done', nowNs(), { btn, changed: r.changed, ...fields });
    }
  } finally {
    ctx.stateLock.unlock(); // `with state_lock:` releases on the way out of an exception too
  }
  if (crash) {
    const lines = crash;
    ctx.out.locked((o: ConsoleSink) => lines.forEach((l) => o.line(l)));
    ctx.truth('thread_crash', nowNs(), { thread: 'processor', btn, error: lines[lines.length - 1] });
    throw new ProcessorCrash(lines[lines.length - 1]);
  }
}
