/**
 * What a part kind is: one file in `kinds/` with its config schema (zod), its factory (the live
 * part, from the checked config and what the session provides) and its doctor check (what `hil
 * doctor` prints for it). Relay boards are told apart by a rig's `boards.<name>.kind`; the kinds
 * are listed in `registry.ts`.
 * @module
 */
import type { z } from 'zod';
import type { OwnedOutput, RelayBoard } from '../core/interfaces.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import type { PortSpec } from './schema.ts';

/** What the session (or the doctor) provides to build a relay board. */
export interface BoardContext {
  /** Board name in the rig. */
  name: string;
  /** Its port with a sim name already replaced by the PTY path. */
  port: PortSpec;
  /** Every output the rig wires to this board (buttons, power lines), each released at takeover. */
  outputs: OwnedOutput[];
  log: ObservationLog;
  /** A one-shot check (`hil doctor`): no waiting for a lost port to come back. Default false. */
  oneShot?: boolean;
}

/** One row of what `hil doctor` says about a part once its check ran. */
export interface PartCheck {
  ok: boolean;
  /** Where it was found (resolved path, URL), or `—`. */
  foundAt: string;
  handshakeMs?: number;
  firmware?: string;
  /** Lines read in the listening window (consoles). */
  lines?: number;
  /** What is wrong, in bench words, or what was seen. */
  note: string;
}

/**
 * A kind of relay board. `S` is the schema of one `boards.<name>` entry, with a `kind` field
 * that is the literal {@link kind} (optional for the default kind); `P` the board it builds.
 */
export interface BoardKind<S extends z.ZodObject = z.ZodObject, P extends RelayBoard = RelayBoard> {
  /** The value of `boards.<name>.kind` that selects this kind. */
  readonly kind: string;
  /** One line for docs and messages: what hardware this is. */
  readonly describe: string;
  readonly schema: S;
  /**
   * What one output address is on this kind (a Firmata pin 0–69, a Modbus coil 0–65535): the
   * `pin` of a button or power line wired to such a board is checked against it.
   */
  readonly output: z.ZodType<number>;
  /** Build the board (not opened). Synchronous: nothing is loaded or opened between the rig and the open. */
  create(spec: z.output<S>, ctx: BoardContext): P;
  /** The doctor's check: open it and say what answered. Rejects when it cannot open. */
  doctor(board: P, spec: z.output<S>, ctx: { outputs: number }): Promise<PartCheck>;
}
