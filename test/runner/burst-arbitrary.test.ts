/**
 * The burst generator: every burst it makes can really be performed (the presser's own check
 * accepts it), a good share of them fill the queue, and a failure shrinks to a few presses.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { VirtualClock } from '../../harness/core/clock.ts';
import { ButtonPresser } from '../../harness/core/buttons.ts';
import type { DigitalOutput } from '../../harness/core/interfaces.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { burstArbitrary } from '../../harness/runner/property.ts';

const BUTTONS = Array.from({ length: 17 }, (_, i) => `B${i}`);
const output = (name: string): DigitalOutput => ({ name, state: 'ready', active: false, set: () => Promise.resolve() });

function presser(limits: { minHoldMs: number; minGapMs: number; maxPressesPerSec: number }) {
  const clock = new VirtualClock(0n);
  const log = new ObservationLog({ clock, schedule: queueMicrotask });
  return new ButtonPresser(new Map(BUTTONS.map((b) => [b, output(b)])), limits, log, { clock });
}

describe('burstArbitrary', function () {
  const rigs = [
    { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 400 }, // the sim rig
    { minHoldMs: 80, minGapMs: 120, maxPressesPerSec: 10 }, // slow mechanical relays
    { minHoldMs: 20, minGapMs: 0, maxPressesPerSec: 1000 },
  ];

  for (const limits of rigs) {
    it(`makes only bursts the relays can perform (hold ${limits.minHoldMs}, gap ${limits.minGapMs}, ${limits.maxPressesPerSec}/s)`, function () {
      const p = presser(limits);
      fc.assert(
        fc.property(burstArbitrary({ buttons: BUTTONS, limits }, { maxPresses: 30, queueCapacity: 100 }), (steps) => {
          expect(steps.length).to.be.greaterThan(0);
          p.checkBurst(steps);
        }),
        { numRuns: 300, seed: 4242 },
      );
    });
  }

  it('about a third of the bursts (two in three long dense runs, six in thirteen shapes) are long enough to fill the queue while it drains (two queue-fulls or more)', function () {
    const limits = rigs[0]!;
    const samples = fc.sample(burstArbitrary({ buttons: BUTTONS, limits }, { maxPresses: 30, queueCapacity: 100 }), { numRuns: 2000, seed: 7 });
    const fill = samples.filter((s) => s.length >= 200).length / samples.length;
    expect(fill).to.be.within(0.25, 0.45);
    // Without a queue to fill, no long runs.
    const noQueue = fc.sample(burstArbitrary({ buttons: BUTTONS, limits }, { maxPresses: 30 }), { numRuns: 500, seed: 7 });
    expect(Math.max(...noQueue.map((s) => s.length))).to.be.at.most(30);
  });

  it('a failure that needs one press shrinks to a few, one that needs a long run to just that long', function () {
    const limits = rigs[0]!;
    const r = fc.check(
      fc.property(burstArbitrary({ buttons: BUTTONS, limits }, { maxPresses: 30, queueCapacity: 100 }), (steps) => steps.every((s) => s.button !== 'B3')),
      { numRuns: 500, seed: 99 },
    );
    expect(r.failed).to.equal(true);
    expect(r.counterexample![0].length, JSON.stringify(r.counterexample![0])).to.be.within(1, 3);
    // And one that needs a full queue (here: more than 150 presses) keeps only what it needs.
    const q = fc.check(
      fc.property(burstArbitrary({ buttons: BUTTONS, limits }, { maxPresses: 30, queueCapacity: 100 }), (steps) => steps.length <= 150),
      { numRuns: 200, seed: 99 },
    );
    expect(q.failed).to.equal(true);
    expect(q.counterexample![0]).to.have.length(151);
  });
});
