/**
 * Part kind `modbus-rtu`: a Modbus RTU relay module (the 8-/16-channel RS-485 boards; labgrid's
 * `ModbusCoilDriver`), one coil per relay, through harness/hw/modbus-relay-board.ts. A button's or
 * power line's `pin` on such a board is the coil address, 0-based as on the wire.
 * @module
 */
import { z } from 'zod';
import { ModbusRelayBoard } from '../../hw/modbus-relay-board.ts';
import type { BoardKind } from '../kind.ts';
import { expected, portSchema } from '../schema.ts';

const wholeMs = expected('a number of ms > 0');

/** A Modbus RTU relay module on an RS-485 adapter. */
export const modbusRtuBoardSchema = z.object(
  {
    /** Board kind: a Modbus RTU relay module. */
    kind: z.literal('modbus-rtu'),
    port: portSchema,
    /** Line speed. Default 9600 (what the modules ship with). */
    baudRate: z.int(expected('a baud rate (a whole number > 0)')).positive(expected('a baud rate (a whole number > 0)')).optional(),
    /** Parity. Default `none` (8N1, the modules' default; the Modbus spec's default is `even`). */
    parity: z.enum(['none', 'even', 'odd'], expected('"none", "even" or "odd"')).optional(),
    /** The module's slave address, 1–247. Default 1. */
    unitId: z.int(expected('a Modbus slave address 1–247')).min(1, expected('a Modbus slave address 1–247')).max(247, expected('a Modbus slave address 1–247')).optional(),
    /** Its number of relays (coils 0…coils-1); the simulated bench builds a module this size. Default 16. */
    coils: z.int(expected('a number of coils 1–64')).min(1, expected('a number of coils 1–64')).max(64, expected('a number of coils 1–64')).optional(),
    /** How long to wait for each answer. Default 200 ms. */
    responseTimeoutMs: z.number(wholeMs).positive(wholeMs).optional(),
    /** Times a request without an answer, or with a corrupted one, is sent again. Default 2. */
    retries: z.int(expected('a whole number of retries 0–10')).min(0, expected('a whole number of retries 0–10')).max(10, expected('a whole number of retries 0–10')).optional(),
  },
  expected('an object'),
);

export const modbusRtuBoard: BoardKind<typeof modbusRtuBoardSchema, ModbusRelayBoard> = {
  kind: 'modbus-rtu',
  describe: 'a Modbus RTU relay module on RS-485, one coil per relay (coil addresses 0-based)',
  schema: modbusRtuBoardSchema,
  output: z.int(expected('a coil address 0–65535 (0-based, as on the wire)')).min(0, expected('a coil address 0–65535 (0-based, as on the wire)')).max(65535, expected('a coil address 0–65535 (0-based, as on the wire)')),
  create(spec, ctx) {
    return new ModbusRelayBoard({
      name: ctx.name,
      port: ctx.port,
      outputs: ctx.outputs,
      log: ctx.log,
      ...(spec.baudRate !== undefined ? { baudRate: spec.baudRate } : {}),
      ...(spec.parity !== undefined ? { parity: spec.parity } : {}),
      ...(spec.unitId !== undefined ? { unitId: spec.unitId } : {}),
      ...(spec.responseTimeoutMs !== undefined ? { responseTimeoutMs: spec.responseTimeoutMs } : {}),
      ...(spec.retries !== undefined ? { retries: spec.retries } : {}),
    });
  },
  async doctor(board, _spec, { outputs }) {
    try {
      await board.open();
    } catch (e) {
      return { ok: false, foundAt: board.foundAt ?? '—', note: (e as Error).message };
    }
    const found = board.found?.energised.length ?? 0;
    const s = board.stats();
    const line = s.retries > 0 ? `; ${s.retries} requests sent again (${s.timeouts} unanswered, ${s.crcErrors} CRC errors)` : '';
    return { ok: true, foundAt: board.foundAt ?? '', handshakeMs: board.handshakeMs, firmware: board.firmware, note: `${outputs} relays released${found > 0 ? `; ${found} had been left energised (see the warning)` : ''}${line}` };
  },
};
