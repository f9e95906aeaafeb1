// Control logic: every 100 ms under the state lock, pump transitions and derived power.
import { nowNs, type ConsoleSink } from '../shared.ts';
import { controlTick, stateFields } from '../state.ts';
import type { ThreadContext } from './context.ts';

const PERIOD_NS = 100_000_000n;

export function runControl(ctx: ThreadContext): never {
  ctx.post({ t: 'ready', role: 'control' });
  let next = nowNs();
  for (;;) {
    ctx.stateLock.lock(ctx.id);
    try {
      const r = controlTick(ctx.mem, nowNs());
      if (r.changed) {
        const fields = stateFields(ctx.mem);
        ctx.out.locked((o: ConsoleSink) => {
          for (const l of r.lines) o.line(l);
          o.hil('state', fields);
        });
        ctx.truth('control', nowNs(), fields);
      }
    } finally {
      ctx.stateLock.unlock();
    }
    next += PERIOD_NS;
    const now = nowNs();
    if (next < now) next = now; // fell behind (e.g. waited on the lock): do not burst to catch up
    ctx.idleUntil(next);
  }
}
