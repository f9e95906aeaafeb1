/**
 * The pieces every part kind's config schema is written with, and the one place zod's issues
 * become problems in a bench engineer's words: `path: expected …, found …`.
 *
 * Each schema carries its "expected" text as its zod error message ({@link expected}); the
 * formatter adds the path and what was found. The TSDoc on each field is what an editor shows.
 * @module
 */
import { z } from 'zod';

/** The error option of a zod schema or check: what the field must be, as a problem says it. */
export function expected(text: string): { error: string } {
  return { error: text };
}

/** A found value as a problem shows it (a function, a RegExp, JSON otherwise). */
export function showFound(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v instanceof RegExp) return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** A field path as problems name it: `buttons.EMERGENCY.board`, `links[0].to`. */
export function showPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('') || 'rig';
}

/**
 * Every issue of a failed parse as problems: `path: expected …, found …`. An object with fields it
 * does not know gives one problem per field. The parse must have been made with `reportInput: true`.
 */
export function problemsOf(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    const input = (issue as { input?: unknown }).input;
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push(`${showPath([...path, k])}: expected ${issue.message}, found ${showFound((input as Record<string, unknown> | undefined)?.[k])}`);
    } else if (issue.code === 'invalid_union' && 'discriminator' in issue && typeof issue.discriminator === 'string') {
      // zod puts the path on the discriminator field already; what was found is that field's value.
      out.push(`${showPath(path)}: expected ${issue.message}, found ${showFound((input as Record<string, unknown> | undefined)?.[issue.discriminator])}`);
    } else {
      out.push(`${showPath(path)}: expected ${issue.message}, found ${showFound(input)}`);
    }
  }
  return out;
}

/** A serial port as a rig names it. */
export const portSchema = z
  .object(
    {
      /** A link name in `/dev/serial/by-id` (or a full path to one). */
      byId: z.string(expected('a /dev/serial/by-id link name')).optional(),
      /** USB serial number (matched through `SerialPort.list()`, or the by-id names without udev). */
      serialNumber: z.string(expected('a USB serial number (a string)')).optional(),
      /** USB vendor id (hex, e.g. `2341`), to narrow a serial-number match. */
      vendorId: z.string(expected('a USB vendor id in hex (a string, e.g. "2341")')).optional(),
      /** USB product id (hex, e.g. `0043`), to narrow a serial-number match. */
      productId: z.string(expected('a USB product id in hex (a string, e.g. "0043")')).optional(),
      /** A plain device path (`/dev/ttyACM0`). */
      path: z.string(expected('a device path (a string)')).optional(),
      /**
       * Simulated bench only: the name of a sim port (`pi`, `esp`, `relays-a`, …). Replaced by the
       * PTY path the sim reports when it starts.
       */
      sim: z.string(expected('the name of a sim port (a string)')).optional(),
    },
    expected('a port spec { byId | serialNumber | path | sim }'),
  )
  .refine((p) => !!(p.byId || p.serialNumber || p.path || p.sim), expected('one of byId, serialNumber, path, sim'))
  .meta({
    description:
      'How a rig names a serial port. Prefer a stable identity (byId, serialNumber): a USB adapter\'s /dev/ttyUSBn number changes when devices re-enumerate, its by-id link does not.',
  });

/**
 * How a rig names a serial port. Prefer a stable identity (`byId`, `serialNumber`): a USB
 * adapter's `/dev/ttyUSBn` number changes when devices re-enumerate, its by-id link does not.
 */
export type PortSpec = z.input<typeof portSchema>;

/** A RegExp field (a rig file is TypeScript; a JSON Schema can only say so in words). */
export function regExp(what: string) {
  return z.instanceof(RegExp, expected(what)).meta({ description: `${what} (a JavaScript RegExp)` });
}
