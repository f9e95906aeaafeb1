/**
 * What a rule is: a named set of handlers for the facts the correlator establishes (a press's
 * event was queued, a take matched its put out of order, a callback ended, …) and an optional
 * deadline check. A rule turns facts into violations; it never correlates lines itself.
 * Adding an invariant = one file in rules/ + one line in rules/index.ts.
 */
import type { Observation } from '../observation.ts';
import type { Correlator } from './correlator.ts';
import type { DeviceState, EventRecord, Fields, PressRecord, RequestRecord, TakeRecord } from './records.ts';
import type { InvariantConfig, Violation } from './types.ts';

/** A device line, decoded. */
export interface LineFact {
  d: DeviceState;
  o: Observation;
  f: Fields;
}

/** Everything the correlator tells the rules, by name. */
export interface Facts {
  /** A device line with text (death patterns). */
  text: LineFact;
  /** A device line about the link itself: `disconnect`, `truncated`, `fault`. */
  link: LineFact;
  /** A harness-side record of a board or link problem (`board_lost`, a board's `fault`). */
  boardFault: { o: Observation; f: Fields };
  hb: LineFact;
  state: LineFact;
  seqGap: { d: DeviceState; o: Observation; prev: number; seq: number };
  seqRepeat: { d: DeviceState; o: Observation; prev: number; seq: number };
  /** A boot nobody asked for, a watchdog line, or a restart without a boot line. `lost`: what was in flight. */
  reboot: { d: DeviceState; o: Observation; how: 'boot' | 'wdt' | 'clock'; prev: number | undefined; lost: string[] };
  /** Everything in flight on the device was reset (boot, power cut). */
  reset: { d: DeviceState };
  noEdge: { p: PressRecord; deadline: bigint; hung: boolean };
  phantom: { device: string; gpio: number; e: EventRecord; t: bigint };
  put: LineFact & { e: EventRecord; depth: number };
  drop: LineFact & { e: EventRecord; depth: number };
  /** q_put/q_drop of a button with no edge before it, on a device that prints edges. */
  unpressed: LineFact & { e: EventRecord };
  /** A press made a second (third, …) event: `e` is the new one, `first` the press's first. */
  duplicate: LineFact & { p: PressRecord; e: EventRecord; first: EventRecord };
  /** A request (`req=`) or an `id=` queued or refused a second time. */
  queuedTwice: LineFact & { e: EventRecord; prev: EventRecord };
  cb: LineFact & { e: EventRecord };
  /** A callback (or edge) whose event was neither queued nor refused within the tolerance. */
  vanished: { d: DeviceState; e: EventRecord; t: bigint; at: number };
  /** An event was taken after one queued later had been taken (`e` is the one that jumped, `ahead` what it jumped). */
  outOfOrder: { d: DeviceState; e: EventRecord; ahead: EventRecord[]; t: bigint; at: number };
  /** A take no q_put matched within the tolerance. */
  orphanTake: { d: DeviceState; take: TakeRecord; t: bigint };
  /** A take of an `id=` already taken. */
  takenTwice: { d: DeviceState; e: EventRecord; take: TakeRecord; t: bigint };
  /** A `done` with no take of it before it. */
  orphanDone: LineFact & { key: string; req: string | undefined };
  /** An event both queued and done (whichever line came last). */
  processed: { d: DeviceState; e: EventRecord; t: bigint; at: number };
  request: { r: RequestRecord; o: Observation };
  response: { r: RequestRecord; o: Observation };
}

export type FactName = keyof Facts;
export type FactHandlers = { [K in FactName]?: (f: Facts[K]) => void };

export interface RuleContext {
  readonly config: InvariantConfig;
  readonly correlator: Correlator;
  /** Report a violation (once per key; default key: invariant, device, log index). */
  report(v: Omit<Violation, 'key'> & { key?: string }): void;
}

export interface Rule {
  readonly on: FactHandlers;
  /** Deadlines up to `at` (host ns, already settled). */
  tick?(at: bigint): void;
}

/** One invariant: a name and how to build it for one engine (rules may keep state per engine). */
export interface RuleDefinition {
  readonly name: string;
  create(ctx: RuleContext): Rule;
}
