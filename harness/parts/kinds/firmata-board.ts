/**
 * Part kind `firmata` (the default board kind): an Arduino running StandardFirmata that drives
 * relay modules from its digital pins, through harness/hw/firmata-board.ts.
 * @module
 */
import { z } from 'zod';
import { FirmataBoard } from '../../hw/firmata-board.ts';
import type { BoardKind } from '../kind.ts';
import { expected, portSchema } from '../schema.ts';

/** A Firmata board (Arduino running StandardFirmata) that drives relay modules. */
export const firmataBoardSchema = z.object(
  {
    /** Board kind. Default `firmata`. */
    kind: z.literal('firmata').optional(),
    port: portSchema,
    /** Default 57600 (StandardFirmata). */
    baudRate: z.int(expected('a baud rate (a whole number > 0)')).positive(expected('a baud rate (a whole number > 0)')).optional(),
    /** How long firmata-io waits for the boot version report before asking. Default 1000 ms. */
    reportVersionTimeoutMs: z.number(expected('a number of ms > 0')).positive(expected('a number of ms > 0')).optional(),
  },
  expected('an object'),
);

export const firmataBoard: BoardKind<typeof firmataBoardSchema, FirmataBoard> = {
  kind: 'firmata',
  describe: 'an Arduino running StandardFirmata, relay modules on its digital pins',
  schema: firmataBoardSchema,
  output: z.int(expected('a pin number 0–69')).min(0, expected('a pin number 0–69')).max(69, expected('a pin number 0–69')),
  create(spec, ctx) {
    return new FirmataBoard({
      name: ctx.name,
      port: ctx.port,
      outputs: ctx.outputs,
      log: ctx.log,
      ...(ctx.oneShot ? { reconnectWindowMs: 0 } : {}),
      ...(spec.baudRate !== undefined ? { baudRate: spec.baudRate } : {}),
      ...(spec.reportVersionTimeoutMs !== undefined ? { reportVersionTimeoutMs: spec.reportVersionTimeoutMs } : {}),
    });
  },
  async doctor(board, _spec, { outputs }) {
    try {
      await board.open();
    } catch (e) {
      return { ok: false, foundAt: board.foundAt ?? '—', note: (e as Error).message };
    }
    const found = board.found?.energised.length ?? 0;
    return { ok: true, foundAt: board.foundAt ?? '', handshakeMs: board.handshakeMs, firmware: board.firmware, note: `${outputs} relays released${found > 0 ? `; ${found} had been left energised (see the warning)` : ''}` };
  },
};
