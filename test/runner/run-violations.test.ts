/**
 * A percentile limit is a claim about every sample a test gathers: one run of a property (a burst
 * of three presses) cannot show it broken on its own, and is not failed for it; the test's whole
 * window judges it over all the runs' samples. A `max` limit is broken by one event, in any run.
 */
import { expect } from 'chai';
import { checkObservations } from '../../harness/core/invariants/index.ts';
import { BurstFailure } from '../../harness/runner/guided-shrink.ts';
import { runViolations } from '../../harness/runner/property.ts';
import { config, Trace } from '../core/invariants/trace.ts';

/** Three presses, the callbacks taking `cbUs` each, judged with a p99 of 1 ms and a max of 20 ms. */
function run(cbUs: number[]) {
  const tr = new Trace();
  for (const us of cbUs) {
    tr.click('PRESSURE_UP', { cbUs: us });
    tr.advance(50);
    tr.process();
    tr.advance(50);
  }
  tr.advance(1500);
  const lim = { p99: 1000, max: 20_000 };
  return checkObservations(tr.obs, config({ devices: { pi: { callbackUs: lim, edgeToCallbackUs: lim } } })).windows[0]!;
}

describe('what one run of a property can show', function () {
  it('a p99 "beyond" over three callbacks is left to the test\'s whole window', function () {
    const w = run([40, 1600, 40]);
    // The window of three does not decide a p99 at all now (it said beyond before: its max is a
    // lower bound of the p99 at 97 %, a claim each of a run's many small windows would make on
    // one host hiccup); the run-level row pools it with the run's other samples…
    expect(w.violations).to.deep.equal([]);
    expect(w.latency.filter((j) => j.p === 99).map((j) => [j.measure, j.standing, j.n, j.needed])).to.deep.equal([
      ['callback', 'insufficient', 3, 299],
      ['edge_to_callback', 'insufficient', 3, 299],
    ]);
    // …and a run is not failed for it.
    expect(runViolations(w)).to.deep.equal([]);
    expect(BurstFailure.fromWindow('x', w).invariant).to.equal(undefined);
  });

  it('a callback over the max fails the run that had it', function () {
    const w = run([40, 25_000, 40]);
    expect(runViolations(w).map((v) => [v.invariant, v.percentile])).to.deep.equal([['callback-latency', undefined]]);
    expect(BurstFailure.fromWindow('x', w).invariant).to.equal('callback-latency');
  });

  it('the same samples pooled over many runs: a p99 the firmware keeps passes, one it breaks fails', function () {
    // 300 callbacks, 1 slow: the p99 is shown met. 300 with 20 slow: shown beyond.
    const keeps = run(Array.from({ length: 300 }, (_, k) => (k === 150 ? 1600 : 40)));
    expect(keeps.violations).to.deep.equal([]);
    const breaks = run(Array.from({ length: 300 }, (_, k) => (k % 15 === 0 ? 1600 : 40)));
    expect(breaks.violations.map((v) => [v.invariant, v.percentile])).to.deep.equal([
      ['callback-latency', 99],
      ['callback-latency', 99],
    ]);
  });
});
