/**
 * The part kinds a rig is assembled from. Relay boards are told apart by `boards.<name>.kind`
 * (the first kind listed is the default, so a board that names none is a Firmata board); a
 * device's console and HTTP server are one kind each.
 *
 * A new relay board kind is one file in `kinds/` (its schema, factory and doctor check) and one
 * line in {@link BOARD_KINDS}.
 * @module
 */
import { z } from 'zod';
import type { BoardKind } from './kind.ts';
import { firmataBoard } from './kinds/firmata-board.ts';
import { modbusRtuBoard } from './kinds/modbus-rtu-board.ts';

export { serialConsole, serialConsoleShape } from './kinds/serial-console.ts';
export { httpEndpoint, httpEndpointSchema } from './kinds/http-endpoint.ts';

/** Every relay board kind, the default first. */
export const BOARD_KINDS = [
  firmataBoard,
  modbusRtuBoard,
] as const;

// A mapped type keeps a tuple a tuple only over a type parameter.
type SchemasOf<T extends readonly unknown[]> = { -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never };
type KindSchemas = SchemasOf<typeof BOARD_KINDS>;

/** The kind names, for messages: `firmata, modbus-rtu`. */
export const BOARD_KIND_NAMES: readonly string[] = BOARD_KINDS.map((k) => k.kind);

/** One `boards.<name>` entry: whichever kind its `kind` field names (the default kind when it names none). */
export const boardSchema = z.discriminatedUnion('kind', BOARD_KINDS.map((k) => k.schema) as unknown as KindSchemas, {
  error: (issue) => ((issue.code as string) === 'invalid_type' ? 'an object' : `one of the board kinds (${BOARD_KIND_NAMES.join(', ')})`),
});

/** One board entry of a rig, of any registered kind. */
export type BoardSpec = z.input<typeof boardSchema>;

/** The kind a board entry names (the default kind when it names none), or undefined for an unknown kind. */
export function boardKind(spec: { kind?: unknown } | undefined): BoardKind | undefined {
  const name = spec?.kind ?? BOARD_KINDS[0].kind;
  return (BOARD_KINDS as readonly BoardKind[]).find((k) => k.kind === name);
}
