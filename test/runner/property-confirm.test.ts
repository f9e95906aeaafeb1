/**
 * The counterexample is run again before it is reported. A racy bug fails some runs of the same
 * presses and not others; shrinking keeps the first candidate that failed once, which can be one
 * that hardly ever fails (`hil replay` then passes it). In-memory models stand in for the bench.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { BurstStep } from '../../harness/core/buttons.ts';
import { RunContext, withRun } from '../../harness/runner/context.ts';
import { crashBursts as bursts, crashesAt, failingBurstProperty } from './burst-models.ts';
import { BurstFailure } from '../../harness/runner/guided-shrink.ts';
import { runProperty } from '../../harness/runner/property.ts';

const BUTTONS = ['PUMP_ON', 'EMERGENCY', 'LIGHT', 'FAN', 'ROD_DOWN'];

interface Outcome {
  counterexample: BurstStep[];
  message: string;
  /** Predicate calls after shrinking ended (the reruns). */
  calls: Array<{ key: string; failed: boolean }>;
}

/**
 * Run the property with `fails(steps, attempt)` as the bench (attempt: how many times this very
 * burst has run before), and return what it reported.
 */
async function property(seed: number, fails: (steps: BurstStep[], attempt: number) => number | undefined, confirmRuns?: number): Promise<Outcome> {
  const calls: Outcome['calls'] = [];
  const r = await failingBurstProperty(
    seed,
    (steps, attempt) => {
      const k = fails(steps, attempt);
      calls.push({ key: JSON.stringify(steps), failed: k !== undefined });
      return k === undefined ? Promise.resolve() : Promise.reject(new BurstFailure(`processor died at press ${k}`, k, 'death-pattern'));
    },
    confirmRuns,
  );
  return { counterexample: r.counterexample, message: r.message, calls };
}

describe('confirming the counterexample', function () {
  this.timeout(60_000);

  it('a counterexample that fails every time is confirmed by one rerun, and reported as it is', async function () {
    for (const seed of [1, 2, 3]) {
      const r = await property(seed, (steps) => crashesAt(steps), 2);
      // Two presses: a small candidate, run a second time while shrinking; that was its rerun.
      expect(r.message, `seed ${seed}`).to.contain('counterexample confirmed: it failed on two runs in a row while shrinking');
      expect(r.counterexample.map((s) => s.button), `seed ${seed}`).to.deep.equal(['PUMP_ON', 'ROD_DOWN']);
      const key = JSON.stringify(r.counterexample);
      expect(r.calls.filter((c) => c.key === key), `seed ${seed}`).to.deep.equal([{ key, failed: true }, { key, failed: true }]);
    }
    // A larger one (every burst of four presses or more fails, none smaller): rerun after shrinking.
    const r = await property(1, (steps) => (steps.length >= 4 ? steps.length - 1 : undefined), 2);
    expect(r.counterexample.length).to.equal(4);
    expect(r.message).to.contain('counterexample confirmed: it failed again on rerun 1 of 2');
    // The last call is the rerun of the very value reported.
    expect(r.calls.at(-1)).to.deep.equal({ key: JSON.stringify(r.counterexample), failed: true });
  });

  it('a racy failure: the smallest value that failed once and never again is not what is reported; an earlier one that fails again is', async function () {
    // Bursts of up to 4 presses hit the crash only on their first run (a rare interleaving the
    // shrinker happened to meet); longer ones hit it every time.
    const racy = (steps: BurstStep[], attempt: number): number | undefined => {
      const k = crashesAt(steps);
      return k !== undefined && (steps.length > 4 || attempt === 0) ? k : undefined;
    };
    for (const seed of [1, 2, 3]) {
      const blind = await property(seed, racy, 0);
      expect(blind.counterexample.length, `seed ${seed}, without confirmation: the small racy value is reported`).to.be.at.most(4);
      const r = await property(seed, racy, 2);
      expect(r.message, `seed ${seed}: ${r.message}`).to.match(/failed once and passed 2 rerun\(s\): the failure is intermittent\. The counterexample given is an earlier, larger one \(\d+ step\(s\)\) that failed again, on rerun 1 of 2/);
      expect(r.counterexample.length, `seed ${seed}: ${JSON.stringify(r.counterexample)}`).to.be.above(4);
      expect(crashesAt(r.counterexample)).to.not.equal(undefined);
      expect(r.calls.at(-1)).to.deep.equal({ key: JSON.stringify(r.counterexample), failed: true });
    }
  });

  it('a small shrink candidate that fails once runs again before shrinking goes on from it: one that passes then is not followed', async function () {
    // Three presses or fewer hit the crash only on their first run; four or more every time.
    const racy = (steps: BurstStep[], attempt: number): number | undefined => {
      const k = crashesAt(steps);
      return k !== undefined && (steps.length > 3 || attempt === 0) ? k : undefined;
    };
    for (const seed of [1, 2, 3]) {
      const r = await property(seed, racy, 2);
      // Straight to a value that fails every time, confirmed as it is: no walk back to a larger one.
      expect(r.message, `seed ${seed}: ${r.message}`).to.contain('counterexample confirmed: it failed again on rerun 1 of 2');
      expect(r.counterexample.length, `seed ${seed}: ${JSON.stringify(r.counterexample)}`).to.equal(4);
      // Each small candidate that failed ran once more at once, and was left when that passed.
      const small = r.calls.flatMap((c, i) => (c.failed && (JSON.parse(c.key) as BurstStep[]).length <= 3 ? [i] : []));
      expect(small.length, `seed ${seed}`).to.be.greaterThan(0);
      for (const i of small) expect(r.calls[i + 1], `seed ${seed}, call ${i}`).to.deep.equal({ key: r.calls[i]!.key, failed: false });
    }
    // A small candidate that fails every time pays one run more, and is followed.
    const r = await property(1, (steps) => crashesAt(steps), 2);
    expect(r.counterexample.map((s) => s.button)).to.deep.equal(['PUMP_ON', 'ROD_DOWN']);
    const key = JSON.stringify(r.counterexample);
    expect(r.calls.filter((c) => c.key === key).map((c) => c.failed), 'found, run again at once: no third run to confirm it').to.deep.equal([true, true]);
    expect(r.message).to.contain('counterexample confirmed: it failed on two runs in a row while shrinking');
  });

  it('waits for a run the budget cut off before it reruns anything, and a refused press confirms nothing', async function () {
    // fast-check's time limit abandons the run in progress, whose burst goes on pressing; a rerun
    // started meanwhile found a button still held (seen on the bench: "REACTOR_STOP: already held",
    // which then read as the confirmation).
    let running = false;
    let overlapped = false;
    let calls = 0;
    // Every burst of two presses or more fails; the first run takes 100 ms, the next 160 ms, the
    // budget is 250 ms: it runs out while that shrink candidate is on the bench.
    const slow = async (steps: BurstStep[]): Promise<void> => {
      if (running) overlapped = true;
      running = true;
      calls++;
      await new Promise((r) => setTimeout(r, calls === 1 ? 100 : 160));
      running = false;
      if (steps.length >= 2) throw new BurstFailure('died', steps.length - 1, 'death-pattern');
    };
    const long = fc.array(fc.constantFrom(...BUTTONS), { minLength: 30, maxLength: 60 }).map((bs): BurstStep[] => bs.map((button, k) => ({ button, atMs: 50 * k, holdMs: 30 })));
    let message = '';
    try {
      await withRun(new RunContext({ settings: { seed: 1 } }), () => runProperty('no crash', long, slow, { defaultRuns: 500, defaultBudgetMs: 250, confirmRuns: 2 }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.contain('budget of 250 ms ran out');
    expect(overlapped, 'a rerun overlapped the run the budget cut off').to.equal(false);
    expect(message).to.contain('counterexample confirmed');
    expect(calls, 'the first run, the candidate cut off, a rerun').to.be.at.least(3);

    // A rerun whose press the rig refused (a LimitError) is no confirmation.
    const refused = Object.assign(new Error('REACTOR_STOP: already held; release it before pressing again'), { limitExceeded: true });
    let first = true;
    const refusing = (steps: BurstStep[]): Promise<void> => {
      const k = crashesAt(steps);
      if (k === undefined) return Promise.resolve();
      if (!first) return Promise.reject(refused);
      first = false;
      return Promise.reject(new BurstFailure('died', k, 'death-pattern'));
    };
    message = '';
    try {
      await withRun(new RunContext({ settings: { seed: 2 } }), () => runProperty('no crash', bursts, refusing, { defaultRuns: 500, defaultBudgetMs: 60_000, confirmRuns: 2 }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.contain('counterexample NOT confirmed');
  });

  it('a failure that never comes back is still reported, and said to be unconfirmed', async function () {
    const once = (steps: BurstStep[], attempt: number): number | undefined => (attempt === 0 ? crashesAt(steps) : undefined);
    const r = await property(4, once, 2);
    expect(r.message, r.message).to.match(/counterexample NOT confirmed: it \(\d+ step\(s\)\) failed once and passed 2 rerun\(s\), and so did the [1-3] larger value\(s\) that failed before it/);
    expect(crashesAt(r.counterexample)).to.not.equal(undefined);
  });

  it('a record without a prototype (as fc.record makes it) is plain data: confirmed like any burst, and shown as JSON', async function () {
    // The HTTP property's value as `hil run` generated it (a record without a prototype), with
    // nothing smaller to shrink to: the value reported is the one generated.
    const value = fc.constant(null).map((): { count: number; concurrency: number } => Object.assign(Object.create(null) as object, { count: 3, concurrency: 1 }));
    const reruns: number[] = [];
    let message = '';
    try {
      await withRun(new RunContext({ settings: { seed: 5 } }), () =>
        runProperty(
          'ring bound',
          value,
          ({ count }) => {
            reruns.push(count);
            return count >= 3 ? Promise.reject(new Error(`ring over its bound after ${count} requests`)) : Promise.resolve();
          },
          { defaultRuns: 50, defaultBudgetMs: 60_000, confirmRuns: 2 },
        ),
      );
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.contain('counterexample: {"count":3,"concurrency":1}');
    expect(message).to.not.contain('__proto__');
    // Before, a record was taken for something JSON cannot carry, and never run again.
    expect(message).to.contain('counterexample confirmed');
    expect(reruns.at(-1)).to.equal(3);
  });
});
