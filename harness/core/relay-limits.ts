/**
 * The relay-limit rule, stated once: what the relays of a rig can physically do, and whether a
 * press fits. The load-time check of a rig's `limits`, the presser (live presses and planned
 * bursts) and the property generator all use this module.
 * @module
 */
import { z } from 'zod';

const POSITIVE = { error: 'a positive number' };

/** What the relays can physically do. Requests outside these are refused, not stretched. */
export const mechanicalLimitsSchema = z.object(
  {
    /** Shortest hold that reliably makes the contact (relay operate time + debounce), ms. */
    minHoldMs: z.number(POSITIVE).positive(POSITIVE),
    /** Shortest gap between two presses on one channel (release time + debounce), ms. */
    minGapMs: z.number(POSITIVE).positive(POSITIVE),
    /** Most presses per second over all channels (board serial bandwidth, supply). */
    maxPressesPerSec: z.number(POSITIVE).positive(POSITIVE),
  },
  { error: 'an object { minHoldMs, minGapMs, maxPressesPerSec }' },
);

/** What the relays can physically do. Requests outside these are refused, not stretched. */
export type MechanicalLimits = z.output<typeof mechanicalLimitsSchema>;

/**
 * What the rule reads about the presses before this one: when the channel to press was last
 * released, and when every press before it started, ascending. Times in ms, on whatever base the
 * caller chooses (the presser uses "ms before now", a plan "ms from the burst's start").
 */
export interface PressHistory {
  releasedAtMs: number | undefined;
  startsMs: readonly number[];
}

/** A press the rule forbids, and by how much. */
export type LimitConflict = { limit: 'minGapMs'; sinceReleaseMs: number } | { limit: 'maxPressesPerSec'; press: number };

/** Whether a hold is long enough to make the contact (`holdMs` ≥ minHoldMs; NaN is not). */
export function holdAllowed(limits: MechanicalLimits, holdMs: number): boolean {
  return holdMs >= limits.minHoldMs;
}

/** Presses started in the rate window of a press at `atMs`: (atMs − 1000 ms, atMs]. */
export function pressesInWindow(startsMs: readonly number[], atMs: number): number {
  let n = 0;
  for (let i = startsMs.length - 1; i >= 0 && startsMs[i]! > atMs - 1000; i--) n++;
  return n;
}

/**
 * The rule: a press at `atMs` comes at least minGapMs after its channel's release, and is at most
 * the maxPressesPerSec-th press within any 1 s. The gap is checked first. `toleranceMs` forgives
 * a gap that short (plans computed in floating point); default 0.
 */
export function limitConflict(limits: MechanicalLimits, history: PressHistory, atMs: number, toleranceMs = 0): LimitConflict | undefined {
  const released = history.releasedAtMs;
  if (released !== undefined && atMs - released < limits.minGapMs - toleranceMs) return { limit: 'minGapMs', sinceReleaseMs: atMs - released };
  const inWindow = pressesInWindow(history.startsMs, atMs);
  if (inWindow >= limits.maxPressesPerSec) return { limit: 'maxPressesPerSec', press: inWindow + 1 };
  return undefined;
}

/**
 * The earliest time at or after `atMs` that {@link limitConflict} allows: after the channel's
 * release plus minGapMs, and once the rate window has room: one `resolutionMs` (the finest step of
 * the caller's time base) after the start that would otherwise be the window's oldest.
 */
export function earliestPressMs(limits: MechanicalLimits, history: PressHistory, atMs: number, resolutionMs: number): number {
  let at = atMs;
  if (history.releasedAtMs !== undefined) at = Math.max(at, history.releasedAtMs + limits.minGapMs);
  const k = limits.maxPressesPerSec;
  const starts = history.startsMs;
  if (starts.length >= k) at = Math.max(at, starts[starts.length - k]! + 1000 + resolutionMs);
  return at;
}
