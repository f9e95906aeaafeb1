/**
 * Bursts: what a person mashing buttons, or a relay board at its limit, can produce. The queue must
 * stay within its bound, report every refusal, handle every press exactly once and in order, keep
 * its callbacks under the limit, and drain afterwards. The invariants judge each burst; the
 * property explores bursts the rig can really perform (see harness/runner/property.ts).
 *
 * Property sizes: `hil run --runs N --budget 10m` for nightly runs; the defaults keep this file
 * to ~20 s.
 */
import { expect } from 'chai';
import type { BurstStep } from '../harness/core/buttons.ts';
import { session } from '../harness/runner/context.ts';
import { burstArbitrary, densestBurst, describeBurst, isPrefixBurst, runProperty, runViolations } from '../harness/runner/property.ts';
import { BurstFailure, burstGuide } from '../harness/runner/guided-shrink.ts';
import { burstAndJudge, describeViolations, precondition, waitIdle } from './support/bench.ts';

/** Buttons a burst may press: all but the ones that stop the reactor (they would end the run's interest). */
const burstButtons = () => Object.keys(session().rig.buttons);

/** Every channel in turn, as fast as the rig allows: the densest burst the relays can make. */
const densest = (count: number): BurstStep[] => densestBurst({ buttons: burstButtons(), limits: session().rig.limits }, count);

describe('bursts', function () {
  beforeEach(async function () {
    await waitIdle('pi', 10_000);
  });

  it('the densest burst the relays can make: bounded queue, refusals reported, every press handled once', async function () {
    const cap = session().rig.devices.pi?.queue?.capacity ?? 100;
    const w = await burstAndJudge(densest(2 * cap));
    expect(w.violations, describeViolations(w)).to.deep.equal([]);
    const pi = w.stats.find((x) => x.device === 'pi')!;
    expect(pi.presses).to.equal(2 * cap);
    // Presses still in flight when the drain time ran out are judged by the invariants when the
    // test ends (a device that stopped is HUNG then); here they are only counted out.
    const pending = w.presses.filter((p) => p.device === 'pi' && p.outcome === 'pending').length;
    precondition(pending === 0, `${pending} of ${2 * cap} presses were still in flight when the burst's drain time ran out; the invariants judge them at the end of the test`);
    expect(pi.events_processed + pi.events_dropped, 'every press processed or refused').to.equal(2 * cap - pending);
    // Whether the queue fills depends on the firmware's pace, not on its correctness: one that keeps
    // up with the relays' top rate never reaches its bound, and this burst then says nothing about
    // the bound and the refusals (the invariants still judged every press).
    const filled = (pi.max_depth ?? 0) >= cap && pi.events_dropped > 0;
    precondition(filled, `the queue was to fill up and refuse presses, but it reached depth ${pi.max_depth ?? 0} of ${cap} with ${pi.events_dropped} refusal(s): the firmware kept up with the relays' top rate, so its bound and its refusals were not exercised`);
  });

  it('property: every invariant holds for any burst the rig can perform', async function () {
    const s = session();
    this.timeout(180_000);
    await runProperty(
      'bursts keep every invariant',
      // Half the bursts start the reactor first: every other button needs it running, so a bug
      // that needs a sequence from there (a pump stopping, then EMERGENCY) is met more often.
      burstArbitrary(
        { buttons: burstButtons(), limits: s.rig.limits },
        { maxPresses: 30, queueCapacity: s.rig.devices.pi?.queue?.capacity ?? 100, lead: burstButtons().includes('REACTOR_START') ? ['REACTOR_START'] : [] },
      ),
      async (steps) => {
        await waitIdle('pi', 10_000);
        const w = await burstAndJudge(steps);
        // A percentile limit is judged over all the property's samples, not one run's (runViolations).
        if (runViolations(w).length > 0) throw BurstFailure.fromWindow(`${describeViolations(w)}\n  burst: ${describeBurst(steps)}`, w);
      },
      // Every run from the rig's known state (a power cycle of the panel by default): a bug that
      // needs state built up over several presses is then shrunk to presses that reproduce it.
      // Shrinking skips the first presses of a burst that passed: that run already pressed them.
      // It first runs the press the failure points at, alone and with the presses before it.
      { defaultRuns: 8, defaultBudgetMs: 60_000, reset: ['pi'], covers: isPrefixBurst, guide: burstGuide({ limits: s.rig.limits }) },
    );
  });
});
