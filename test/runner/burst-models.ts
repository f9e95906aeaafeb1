/**
 * In-memory firmware models and burst generators for the shrinking tests: the logic of choosing
 * candidates, without a bench.
 */
import fc from 'fast-check';
import type { BurstStep } from '../../harness/core/buttons.ts';

/** Bursts of 1..maxLength presses of `buttons`, 40–400 ms apart, the first at 0. */
export function randomBursts(buttons: readonly string[], maxLength: number): fc.Arbitrary<BurstStep[]> {
  return fc
    .array(fc.record({ button: fc.constantFrom(...buttons), gapMs: fc.integer({ min: 40, max: 400 }) }), { minLength: 1, maxLength })
    .map((raw): BurstStep[] => {
      let t = 0;
      return raw.map((r, k) => ({ button: r.button, atMs: (t += k === 0 ? 0 : r.gapMs), holdMs: 30 }));
    });
}

/**
 * A panel whose processor dies on ROD_DOWN while the reactor runs (started by PUMP_ON, stopped by
 * EMERGENCY): the index of the press it died at, if one did.
 */
export function crashesAt(steps: readonly BurstStep[]): number | undefined {
  let running = false;
  for (const [k, s] of steps.entries()) {
    if (s.button === 'PUMP_ON') running = true;
    else if (s.button === 'EMERGENCY') running = false;
    else if (s.button === 'ROD_DOWN' && running) return k;
  }
  return undefined;
}
