/**
 * In-memory firmware models and burst generators for the shrinking tests: the logic of choosing
 * candidates, without a bench.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { BurstStep } from '../../harness/core/buttons.ts';
import { RunContext, withRun } from '../../harness/runner/context.ts';
import { burstGuide } from '../../harness/runner/guided-shrink.ts';
import { isPrefixBurst, PropertyFailure, runProperty } from '../../harness/runner/property.ts';

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

/** Bursts of up to 120 presses of five buttons, for the crash model ({@link crashesAt}). */
export const crashBursts = randomBursts(['PUMP_ON', 'EMERGENCY', 'LIGHT', 'FAN', 'ROD_DOWN'], 120);

/**
 * Run the guided burst property over {@link crashBursts} with `bench(steps, attempt)` standing in
 * for the bench (attempt: how many times this very burst ran before), which must fail it; resolves
 * with the failure and the counterexample it reported.
 */
export async function failingBurstProperty(
  seed: number,
  bench: (steps: BurstStep[], attempt: number) => Promise<void>,
  confirmRuns?: number,
): Promise<{ error: PropertyFailure; message: string; counterexample: BurstStep[] }> {
  const attempts = new Map<string, number>();
  try {
    await withRun(new RunContext({ settings: { seed } }), () =>
      runProperty(
        'no crash',
        crashBursts,
        (steps) => {
          const key = JSON.stringify(steps);
          const attempt = attempts.get(key) ?? 0;
          attempts.set(key, attempt + 1);
          return bench(steps, attempt);
        },
        { defaultRuns: 500, defaultBudgetMs: 60_000, covers: isPrefixBurst, guide: burstGuide(), ...(confirmRuns !== undefined ? { confirmRuns } : {}) },
      ),
    );
  } catch (e) {
    expect(e).to.be.instanceOf(PropertyFailure);
    const message = (e as Error).message;
    return { error: e as PropertyFailure, message, counterexample: JSON.parse(/counterexample: (.*)/.exec(message)![1]!) as BurstStep[] };
  }
  throw new Error('the property did not fail');
}
