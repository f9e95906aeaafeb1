/**
 * The one place a rig definition becomes live parts: its relay boards (each by its kind), each
 * device's console and HTTP server. `RigSession`, `hil doctor` and the contract tests all build
 * their parts here, so a board is wired the same way (the same owned outputs, the same options)
 * whoever opens it.
 * @module
 */
import type { LineSource, OwnedOutput, RelayBoard } from '../core/interfaces.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import type { BoardSpec, DeviceSpec, PortSpec, RigDefinition } from '../rig/types.ts';
import type { BoardKind, PartCheck } from './kind.ts';
import type { ConsoleContext } from './kinds/serial-console.ts';
import { boardKind, BOARD_KIND_NAMES, serialConsole } from './registry.ts';

/**
 * Every output the rig wires to each board, by board name: its buttons (named after the button),
 * then its power lines (`power:<device>`). A board is built owning exactly these, and releases
 * every one of them whenever it takes the board over.
 */
export function ownedOutputs(rig: Pick<RigDefinition, 'buttons' | 'power'>): Map<string, OwnedOutput[]> {
  const owned = new Map<string, OwnedOutput[]>();
  const own = (board: string, o: OwnedOutput) => (owned.get(board) ?? owned.set(board, []).get(board)!).push(o);
  for (const [name, b] of Object.entries(rig.buttons)) own(b.board, { pin: b.pin, activeLow: b.activeLow, name });
  for (const [name, p] of Object.entries(rig.power)) own(p.board, { pin: p.pin, activeLow: p.activeLow, name: `power:${name}` });
  return owned;
}

/** A relay board built from a rig entry, with what built it. */
export interface AssembledBoard {
  name: string;
  spec: BoardSpec;
  kind: BoardKind;
  board: RelayBoard;
  outputs: OwnedOutput[];
}

export interface BoardAssembly {
  log: ObservationLog;
  /** The port a board opens: its rig port with a sim name replaced by the PTY path. */
  port: (board: string, spec: PortSpec) => PortSpec;
  /** A one-shot check (`hil doctor`): no waiting for a lost port to come back. Default false. */
  oneShot?: boolean;
}

/** Build every relay board of a rig, each by its kind (not opened), in the rig's order. */
export function buildBoards(rig: Pick<RigDefinition, 'boards' | 'buttons' | 'power'>, ctx: BoardAssembly): AssembledBoard[] {
  const owned = ownedOutputs(rig);
  const out: AssembledBoard[] = [];
  for (const [name, spec] of Object.entries(rig.boards)) {
    const kind = boardKind(spec);
    // A validated rig names only registered kinds; a rig built in code may not have been validated.
    if (!kind) throw new Error(`boards.${name}.kind: no such board kind ${JSON.stringify(spec.kind)} (kinds: ${BOARD_KIND_NAMES.join(', ')})`);
    const outputs = owned.get(name) ?? [];
    const board = kind.create(spec, { name, port: ctx.port(name, spec.port), outputs, log: ctx.log, ...(ctx.oneShot ? { oneShot: true } : {}) });
    out.push({ name, spec, kind, board, outputs });
  }
  return out;
}

/** The doctor's check of a board built by {@link buildBoards}: it opens it and says what answered. */
export function checkBoard(b: AssembledBoard): Promise<PartCheck> {
  return b.kind.doctor(b.board, b.spec, { outputs: b.outputs.length });
}

/** Build a device's console (not opened). */
export function buildConsole(spec: DeviceSpec, ctx: ConsoleContext): LineSource {
  return serialConsole.create(spec, ctx);
}
