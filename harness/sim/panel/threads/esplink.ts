// ESP link: every 100 ms, a snapshot of the state goes to the ESP over the UART.
import type { Op } from '../model.ts';
import { stateFields } from '../state.ts';
import { lock, type ThreadContext } from './context.ts';

const PERIOD_NS = 100_000_000n;

export function* runEspLink(ctx: ThreadContext): Generator<Op, void, void> {
  const { m } = ctx;
  // Started by its own timer: its phase against the other periodic thread is the device's own.
  let next = ctx.now + ctx.rng.us(0, 50_000);
  yield* ctx.idleUntil(next);
  let n = 0;
  for (;;) {
    yield lock(m.stateLock);
    let fields: Record<string, string | number>;
    try {
      yield ctx.work(10, 30);
      fields = stateFields(m.mem);
    } finally {
      m.stateLock.unlock();
    }
    m.uartTx(formatStateLine(++n, m.clock.nowUs(ctx.now), fields, m.mem.processed(), m.mem.depth()));
    next += PERIOD_NS;
    if (next < ctx.now) next = ctx.now;
    yield* ctx.idleUntil(next);
  }
}

/** See {@link PanelFirmwareOptions.uartTx} for the format. */
export function formatStateLine(n: number, tUs: number, fields: Record<string, string | number>, processed: number, depth: number): string {
  let s = `STATE n=${n} t_us=${tUs}`;
  for (const k in fields) s += ` ${k}=${fields[k]}`;
  return `${s} processed=${processed} depth=${depth}`;
}
