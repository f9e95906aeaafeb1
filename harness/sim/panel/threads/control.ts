// Control logic: every 100 ms under the state lock, pump transitions and derived power.
import type { Op } from '../model.ts';
import { controlTick, stateFields } from '../state.ts';
import { lock, type ThreadContext } from './context.ts';

const PERIOD_NS = 100_000_000n;

export function* runControl(ctx: ThreadContext): Generator<Op, void, void> {
  const { m } = ctx;
  // Started by its own timer: its phase against the other periodic thread is the device's own.
  let next = ctx.now + ctx.rng.us(0, 50_000);
  yield* ctx.idleUntil(next);
  for (;;) {
    yield lock(m.stateLock);
    try {
      yield ctx.work(20, 60);
      const r = controlTick(m.mem, ctx.now);
      if (r.changed) {
        const fields = stateFields(m.mem);
        for (const l of r.lines) m.out.line(l);
        m.out.hil('state', fields);
        ctx.truth('control', ctx.now, fields);
      }
    } finally {
      m.stateLock.unlock();
    }
    next += PERIOD_NS;
    if (next < ctx.now) next = ctx.now; // fell behind (e.g. waited on the lock): do not burst to catch up
    yield* ctx.idleUntil(next);
  }
}
