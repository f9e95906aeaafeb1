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
import { burstArbitrary, densestBurst } from '../../harness/runner/property.ts';

const BUTTONS = Array.from({ length: 17 }, (_, i) => `B${i}`);
const output = (name: string): DigitalOutput => ({ name, state: 'ready', active: false, set: () => Promise.resolve() });

function presser(limits: { minHoldMs: number; minGapMs: number; maxPressesPerSec: number }) {
  return bench(limits).presser;
}

function bench(limits: { minHoldMs: number; minGapMs: number; maxPressesPerSec: number }) {
  const clock = new VirtualClock(0n);
  const log = new ObservationLog({ clock, schedule: queueMicrotask });
  return { clock, log, presser: new ButtonPresser(new Map(BUTTONS.map((b) => [b, output(b)])), limits, log, { clock }) };
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

describe('burstArbitrary with a lead', function () {
  const limits = { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 400 };
  const arb = () => burstArbitrary({ buttons: BUTTONS, limits }, { maxPresses: 30, queueCapacity: 100, lead: ['B1'] });

  it('about half the bursts begin with it, the next press a hold and a gap later, and every burst is performable', function () {
    const p = presser(limits);
    const samples = fc.sample(arb(), { numRuns: 2000, seed: 11 });
    // Led: B1 at the start, and nothing else until it has been released and its gap has passed.
    const led = samples.filter((s) => s[0]!.button === 'B1' && s.length > 1 && s[1]!.atMs >= s[0]!.atMs + limits.minHoldMs + limits.minGapMs);
    expect(led.length / samples.length).to.be.within(0.4, 0.6);
    for (const s of samples.slice(0, 300)) p.checkBurst(s);
  });

  it('shrinking drops the lead when the failure does not need it, and keeps it when it does', function () {
    const without = fc.check(
      fc.property(arb(), (steps) => steps.every((s) => s.button !== 'B3')),
      { numRuns: 500, seed: 99 },
    );
    expect(without.failed).to.equal(true);
    // The lead goes; the rest shrinks as far as its shape lets fast-check (a long dense run only
    // from its end: the guide shrinks those on the bench).
    expect(without.counterexample![0][0]!.button, JSON.stringify(without.counterexample![0])).to.not.equal('B1');
    // A failure that needs B1 first, then B3: the lead is what it keeps.
    const needs = fc.check(
      fc.property(arb(), (steps) => !(steps[0]?.button === 'B1' && steps.slice(1).some((s) => s.button === 'B3'))),
      { numRuns: 500, seed: 99 },
    );
    expect(needs.failed).to.equal(true);
    const kept = needs.counterexample![0].map((s) => s.button);
    expect([kept[0], kept.at(-1)], kept.join(' ')).to.deep.equal(['B1', 'B3']);
  });
});

describe('densestBurst', function () {
  // Rates whose period 1000/rate is a whole number of µs (400/s, 1000/s) and ones whose period is
  // not (15/s, as on the Modbus rig; 7/s; 3/s): the plan check refused the latter's densest burst.
  const rigs = [
    { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 400 },
    { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 15 },
    { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 7 },
    { minHoldMs: 80, minGapMs: 120, maxPressesPerSec: 3 },
    { minHoldMs: 20, minGapMs: 0, maxPressesPerSec: 1000 },
  ];

  for (const limits of rigs) {
    it(`is a burst the relays can perform, at their top rate (hold ${limits.minHoldMs}, gap ${limits.minGapMs}, ${limits.maxPressesPerSec}/s)`, function () {
      const steps = densestBurst({ buttons: BUTTONS, limits }, 200);
      expect(steps).to.have.length(200);
      expect(() => presser(limits).checkBurst(steps)).to.not.throw();
      // Still the densest: the channels in turn, each held for the minimum, and on average no
      // more than 1 µs per press slower than the limiting period (plans are on a 1 µs grid).
      const period = Math.max(1000 / limits.maxPressesPerSec, (limits.minHoldMs + limits.minGapMs) / BUTTONS.length);
      expect(steps.map((s) => s.button)).to.deep.equal(Array.from({ length: 200 }, (_, k) => BUTTONS[k % BUTTONS.length]));
      expect(steps.every((s) => s.holdMs === limits.minHoldMs)).to.equal(true);
      expect(steps[0]!.atMs).to.equal(0);
      expect(steps.at(-1)!.atMs / 199).to.be.within(period, period + 0.001 + 1e-9);
    });
  }

  it('at 15/s: performed on the virtual clock within the limits, on schedule, nothing refused', async function () {
    const limits = { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 15 };
    const { clock, log, presser: p } = bench(limits);
    const steps = densestBurst({ buttons: BUTTONS, limits }, 200);
    const done = p.burst(steps).then(
      (r) => r,
      (e: unknown) => e,
    );
    await clock.advance(steps.at(-1)!.atMs + limits.minHoldMs + 10);
    const result = await done;
    if (result instanceof Error) throw result;
    const { presses, lateMs } = result as Awaited<ReturnType<typeof p.burst>>;
    expect(lateMs.every((ms) => ms === 0), `late: ${lateMs.filter((ms) => ms > 0).join(', ')}`).to.equal(true);
    const starts = presses.map((r) => log.at(r.pressIndex)!.t);
    expect(starts).to.have.length(200);
    // No press is the 16th within any 1 s: the one 15 before it started at least 1 s earlier.
    for (let k = 15; k < starts.length; k++) expect(Number(starts[k]! - starts[k - 15]!), `press ${k}`).to.be.at.least(1e9);
  });
});
