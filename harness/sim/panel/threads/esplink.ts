// ESP link: every 100 ms, a snapshot of the state goes to the ESP over the UART.
import { nowNs } from '../shared.ts';
import { stateFields } from '../state.ts';
import type { ThreadContext } from './context.ts';

const PERIOD_NS = 100_000_000n;

export function runEspLink(ctx: ThreadContext): never {
  ctx.post({ t: 'ready', role: 'esplink' });
  let next = nowNs();
  let n = 0;
  for (;;) {
    ctx.stateLock.lock(ctx.id);
    let fields: Record<string, string | number>;
    try {
      fields = stateFields(ctx.mem);
    } finally {
      ctx.stateLock.unlock();
    }
    ctx.post({ t: 'uart', line: formatStateLine(++n, ctx.clock.nowUs(), fields, ctx.mem.processed(), ctx.mem.depth()) });
    next += PERIOD_NS;
    const now = nowNs();
    if (next < now) next = now;
    ctx.idleUntil(next);
  }
}

/** See {@link PanelFirmwareOptions.uartTx} for the format. */
export function formatStateLine(n: number, tUs: number, fields: Record<string, string | number>, processed: number, depth: number): string {
  let s = `STATE n=${n} t_us=${tUs}`;
  for (const k in fields) s += ` ${k}=${fields[k]}`;
  return `${s} processed=${processed} depth=${depth}`;
}
