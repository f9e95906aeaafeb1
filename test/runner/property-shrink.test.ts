/**
 * Shrinking spends bench time only on candidates that can still fail: with `covers`, a candidate
 * already run is answered from its run, and one a passing value covers (the first presses of a
 * burst that passed) is not run. The counterexample is still one that failed when it ran.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { BurstStep } from '../../harness/core/buttons.ts';
import { RunContext, withRun } from '../../harness/runner/context.ts';
import { isPrefixBurst, PropertyFailure, runProperty } from '../../harness/runner/property.ts';

/** `count` presses going round `order`, 40 ms apart: the shape of a queue-filling burst. */
const burst = ({ order, count }: { order: string[]; count: number }): BurstStep[] => Array.from({ length: count }, (_, k) => ({ button: order[k % order.length]!, atMs: 40 * k, holdMs: 30 }));
const arb = fc.record({ order: fc.shuffledSubarray(['A', 'B', 'C', 'D'], { minLength: 4 }), count: fc.integer({ min: 1, max: 300 }) }).map(burst);

/** Run a property that fails from 120 presses on: the bursts that really ran, and the counterexample's size. */
async function shrinkOnce(covers: boolean, seed: number): Promise<{ ran: BurstStep[][]; passed: BurstStep[][]; size: number }> {
  const ran: BurstStep[][] = [];
  const passed: BurstStep[][] = [];
  try {
    await withRun(new RunContext({ settings: { seed } }), () =>
      runProperty(
        'fills the queue',
        arb,
        (steps) => {
          ran.push(steps);
          if (steps.length >= 120) return Promise.reject(new Error(`queue overflow after ${steps.length} presses`));
          passed.push(steps);
          return Promise.resolve();
        },
        { defaultRuns: 100, defaultBudgetMs: 20_000, ...(covers ? { covers: isPrefixBurst } : {}) },
      ),
    );
  } catch (e) {
    expect(e).to.be.instanceOf(PropertyFailure);
    return { ran, passed, size: (/counterexample: \[(.*)\]/.exec((e as Error).message)?.[1]?.match(/"button"/g) ?? []).length };
  }
  throw new Error('the property did not fail');
}

describe('property shrinking', function () {
  it('tells a prefix of a burst from another burst', function () {
    const five = burst({ order: ['A', 'B'], count: 5 });
    expect(isPrefixBurst(five, burst({ order: ['A', 'B'], count: 3 }))).to.equal(true);
    expect(isPrefixBurst(burst({ order: ['A', 'B'], count: 3 }), five)).to.equal(false);
    expect(isPrefixBurst(five, burst({ order: ['B', 'A'], count: 3 }))).to.equal(false);
    expect(isPrefixBurst(five, [{ ...five[0]!, holdMs: 31 }])).to.equal(false);
  });

  it('never runs a candidate that a burst which passed covers, nor one twice, and still shrinks to the smallest failing burst', async function () {
    let coveredInPlain = 0;
    for (const seed of [1, 2, 3, 4]) {
      const plain = await shrinkOnce(false, seed);
      const plainFail = plain.ran.findIndex((b) => b.length >= 120);
      coveredInPlain += plain.ran.filter((b, k) => k > plainFail && plain.passed.some((p) => plain.ran.indexOf(p) < k && isPrefixBurst(p, b))).length;
      const skipping = await shrinkOnce(true, seed);
      expect(plain.size, `seed ${seed}`).to.equal(120);
      expect(skipping.size, `seed ${seed}`).to.equal(120);
      const key = (b: BurstStep[]) => JSON.stringify(b);
      const shrinking = skipping.ran.slice(skipping.ran.findIndex((b) => b.length >= 120) + 1);
      expect(new Set(shrinking.map(key)).size, `seed ${seed}: a shrink candidate ran twice`).to.equal(shrinking.length);
      // Shrinking starts after the first failure; the runs before it are the property's own.
      const firstFail = skipping.ran.findIndex((b) => b.length >= 120);
      skipping.ran.forEach((b, k) => {
        if (k <= firstFail) return;
        const coveredBy = skipping.passed.find((p) => skipping.ran.indexOf(p) < k && isPrefixBurst(p, b));
        expect(coveredBy, `seed ${seed}: run ${k + 1} (${b.length} presses) was covered by a burst that had passed`).to.equal(undefined);
      });
      expect(skipping.ran.length, `seed ${seed}`).to.be.at.most(plain.ran.length);
    }
    // Without `covers`, fast-check's shrinking does propose such candidates: the check above has something to catch.
    expect(coveredInPlain).to.be.greaterThan(0);
  });
});
