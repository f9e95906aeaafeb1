/**
 * Part kind: a device's serial console, read line by line into the observation log through
 * harness/hw/serial-line-source.ts. Its config is the `port`, `baudRate` and `decoders` of a
 * rig's `devices.<name>` entry.
 * @module
 */
import { z } from 'zod';
import { LineDecoder } from '../../core/decoders.ts';
import type { LineSource } from '../../core/interfaces.ts';
import { SerialLineSource } from '../../hw/serial-line-source.ts';
import type { ObservationLog } from '../../core/observation-log.ts';
import type { PartCheck } from '../kind.ts';
import { expected, portSchema, regExp, type PortSpec } from '../schema.ts';

const DEFAULT_BAUD = 115200;

/** The console fields of a device entry. */
export const serialConsoleShape = {
  port: portSchema,
  /** Default 115200. */
  baudRate: z.int(expected('a baud rate (a whole number > 0)')).positive(expected('a baud rate (a whole number > 0)')).optional(),
  /** RegExp decoders for its free-form log lines (telemetry lines are always decoded). */
  decoders: z
    .array(
      z.object(
        {
          /** The observation kind a match produces. */
          kind: z.string(expected('an observation kind (a string)')),
          /** Named groups become fields. */
          pattern: regExp('a RegExp whose named groups become fields'),
          /** Field conversions (default: numbers that look like numbers, strings otherwise). */
          types: z.record(z.string(), z.enum(['number', 'string'], expected('"number" or "string"')), expected('an object { field: "number" | "string" }')).optional(),
        },
        expected('a decoder { kind, pattern, types? }'),
      ),
      expected('a list of decoders [{ kind, pattern, types? }]'),
    )
    .optional(),
};

/** The console fields of a device entry, checked. */
type ConsoleSpec = z.output<z.ZodObject<typeof serialConsoleShape>>;

/** What the session provides to build a console. */
export interface ConsoleContext {
  /** Device name: the `source` of its observations. */
  name: string;
  /** Its port with a sim name already replaced by the PTY path. */
  port: PortSpec;
  log: ObservationLog;
  /** Where the raw bytes are kept. Default: not kept. */
  rawLogPath?: string;
  /** A one-shot check (`hil doctor`): a lost port is not reopened. Default false. */
  oneShot?: boolean;
}

export const serialConsole = {
  describe: 'a device console on a serial port (USB-serial adapter, PTY)',
  /** Build the console (not opened). */
  create(spec: ConsoleSpec, ctx: ConsoleContext): LineSource {
    return new SerialLineSource({
      name: ctx.name,
      port: ctx.port,
      baudRate: spec.baudRate ?? DEFAULT_BAUD,
      log: ctx.log,
      decoder: new LineDecoder(spec.decoders ?? []),
      ...(ctx.rawLogPath !== undefined ? { rawLogPath: ctx.rawLogPath } : {}),
      ...(ctx.oneShot ? { reconnect: false as const } : {}),
    });
  },
  /** The doctor's check: open it, listen for `listenMs`, count the lines. */
  async doctor(src: LineSource, spec: ConsoleSpec, { listenMs }: { listenMs: number }): Promise<PartCheck> {
    try {
      await src.open();
    } catch (e) {
      return { ok: false, foundAt: '—', note: (e as Error).message };
    }
    // A simulated device boots a moment after its supply comes up: listen from its boot.
    const before = src.stats().lines;
    await new Promise((r) => setTimeout(r, listenMs));
    const lines = src.stats().lines - before;
    return {
      ok: lines > 0,
      foundAt: src.foundAt ?? '',
      lines,
      note: lines > 0 ? 'console alive' : `no lines in ${listenMs} ms: is the device powered, the baud rate ${spec.baudRate ?? DEFAULT_BAUD} right, TX/RX swapped?`,
    };
  },
};
