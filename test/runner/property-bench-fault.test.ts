/**
 * A run the bench could not perform (a press performed short under host load, a rig fault) says
 * nothing of the firmware. While a failure of the firmware's is shrunk, such a candidate is not
 * followed, and its run stays out of the verdict; a property whose first failure is the bench's
 * ends on it (ERROR) without spending bench time shrinking it. In-memory models stand in for the
 * bench; `hil run` reaches the same code through scenarios/40-bursts.spec.ts.
 */
import { expect } from 'chai';
import type { BurstStep } from '../../harness/core/buttons.ts';
import type { WindowResult } from '../../harness/core/invariants/report.ts';
import type { Violation } from '../../harness/core/invariants/types.ts';
import { crashesAt, failingBurstProperty } from './burst-models.ts';
import { BurstFailure } from '../../harness/runner/guided-shrink.ts';
import type { PropertyFailure } from '../../harness/runner/property.ts';
import { leaveOutUnjudged } from '../../harness/runner/recorder.ts';

type Call = 'firmware' | 'bench' | 'pass';

/**
 * The firmware crashes (crashesAt); `bench(steps, calls, attempt)` says when the bench performs a
 * burst short instead (calls: the runs so far; attempt: how often this very burst ran before).
 */
async function property(seed: number, bench: (steps: BurstStep[], calls: readonly Call[], attempt: number) => boolean, confirmRuns = 0): Promise<{ error: PropertyFailure; counterexample: BurstStep[]; calls: Call[] }> {
  const calls: Call[] = [];
  const r = await failingBurstProperty(
    seed,
    (steps, attempt) => {
      if (bench(steps, calls, attempt)) {
        calls.push('bench');
        return Promise.reject(new BurstFailure('press 2 of FAN was performed short (the link to the relays delivered its commands late)', 1, undefined, { bench: true }));
      }
      const k = crashesAt(steps);
      calls.push(k === undefined ? 'pass' : 'firmware');
      return k === undefined ? Promise.resolve() : Promise.reject(new BurstFailure(`processor died at press ${k}`, k, 'death-pattern'));
    },
    confirmRuns,
  );
  return { error: r.error, counterexample: r.counterexample, calls };
}

describe('a run the bench could not perform, in a property', function () {
  this.timeout(60_000);

  it('while shrinking a failure of the firmware: not followed, and the counterexample is the firmware failing', async function () {
    // Once the firmware has failed, the bench performs every burst of up to three presses short:
    // the firmware's own smallest failure (PUMP_ON then ROD_DOWN) can only show in a longer one.
    for (const seed of [1, 2, 3]) {
      const r = await property(seed, (steps, calls) => calls.includes('firmware') && steps.length <= 3, 2);
      expect(r.calls, `seed ${seed}: a short candidate ran`).to.include('bench');
      expect(r.error.rigFault, `seed ${seed}`).to.equal(false);
      expect(r.error.expectationFailed, `seed ${seed}`).to.equal(true);
      expect(r.error.message, `seed ${seed}`).to.match(/processor died at press/);
      expect(r.counterexample.length, `seed ${seed}`).to.be.greaterThan(3);
      expect(crashesAt(r.counterexample), `seed ${seed}: the counterexample fails on the firmware`).to.not.equal(undefined);
      expect(r.error.message, `seed ${seed}`).to.contain('counterexample confirmed');
    }
  });

  it('a rerun of the confirmation that the bench performed short confirms nothing', async function () {
    // Shrinking never runs a burst twice; the reruns do, and the bench performs every one short.
    const r = await property(4, (_steps, _calls, attempt) => attempt > 0, 2);
    expect(r.calls.filter((c) => c === 'bench').length, 'reruns').to.be.greaterThan(0);
    expect(r.error.message).to.not.contain('counterexample confirmed');
    expect(r.error.message).to.contain('counterexample NOT confirmed');
    // The firmware's failure stands, unconfirmed: a FAIL, not the bench's ERROR.
    expect(r.error.expectationFailed).to.equal(true);
  });

  it('as the first failure: the property ends on it, a bench fault (ERROR), with no run spent shrinking or confirming it', async function () {
    const r = await property(1, () => true, 2);
    expect(r.calls, 'one run: the first, which the bench performed short').to.deep.equal(['bench']);
    expect(r.error.rigFault).to.equal(true);
    expect(r.error.expectationFailed).to.equal(false);
  });

  it('leaves the violations of the runs it did not judge out of the verdict, and says so', function () {
    const v = (t: bigint, kind: Violation['kind'], detail: string): Violation => ({ invariant: kind === 'rig' ? 'exactly-once' : 'queue-bound', device: 'pi', t, detail, kind, at: 0, key: String(t) });
    const result = { violations: [v(100n, 'firmware', 'depth 101'), v(250n, 'rig', 'press performed short'), v(260n, 'firmware', 'no edge'), v(400n, 'firmware', 'depth 101 again')] } as unknown as WindowResult;
    const out = leaveOutUnjudged(result, [{ from: 200n, to: 300n, why: 'press 2 of FAN performed short' }]);
    expect(out.result.violations.map((x) => x.detail)).to.deep.equal(['depth 101', 'depth 101 again']);
    expect(out.notes).to.have.length(1);
    expect(out.notes[0]).to.match(/^not judged: a run the bench could not perform \(press 2 of FAN performed short\); its 2 violation\(s\) are left out of the verdict, the first: exactly-once on pi: press performed short$/);
    expect(leaveOutUnjudged(result, undefined).result).to.equal(result);
  });

  it('a burst whose window had a violation of the bench\'s is the bench\'s failure', function () {
    const presses = [{ press_id: 1, device: 'pi', button: 'FAN', gpio: 1, press_t: 0n, events: 0, outcome: 'lost' }];
    const rig: Violation = { invariant: 'exactly-once', device: 'pi', t: 5n, detail: 'performed short', kind: 'rig', at: 0, key: 'k', pressId: 1 };
    const fw: Violation = { ...rig, kind: 'firmware', detail: 'depth 101', key: 'f' };
    const w = (violations: Violation[]) => ({ presses, violations, stats: [] }) as unknown as WindowResult;
    expect(BurstFailure.fromWindow('x', w([rig])).rigFault).to.equal(true);
    expect(BurstFailure.fromWindow('x', w([fw, rig])).rigFault).to.equal(true);
    expect(BurstFailure.fromWindow('x', w([fw])).rigFault).to.equal(false);
  });
});
