/**
 * Reactor start and the pressure clamp: pressure moves in 5 bar steps and stops at 0 and 200,
 * however many more presses arrive. The presses go out as bursts on one channel (at its fastest
 * repeat: hold + gap), so this is also the relay's own repeat rate.
 */
import { expect } from 'chai';
import type { BurstStep } from '../harness/core/buttons.ts';
import { session } from '../harness/runner/context.ts';
import { burstAndJudge, describeViolations, panelState, precondition, tapAndProcess, waitIdle } from './support/bench.ts';

function repeat(button: string, count: number): BurstStep[] {
  const { minHoldMs, minGapMs } = session().rig.limits;
  return Array.from({ length: count }, (_, k) => ({ button, atMs: k * (minHoldMs + minGapMs), holdMs: minHoldMs }));
}

/** A number from the panel's latest state line; NaN when its state lines do not carry `key`. */
async function stateNow(key: string): Promise<number> {
  await waitIdle();
  return Number(panelState()[key]);
}

/** A firmware whose state lines do not carry `key` cannot be judged on it: noted, not failed. */
function carries(key: string, value: number): boolean {
  return precondition(Number.isFinite(value), `the panel's state lines carry no numeric "${key}" (latest: ${JSON.stringify(panelState())}), so this test cannot judge it from the console`);
}

describe('reactor and pressure clamp', function () {
  before(async function () {
    const st = panelState();
    if (Number(st.reactor) !== 1) await tapAndProcess('REACTOR_START');
  });

  it('the reactor is running after REACTOR_START', async function () {
    const reactor = await stateNow('reactor');
    if (!carries('reactor', reactor)) return;
    expect(reactor).to.equal(1);
  });

  for (const [button, limit] of [
    ['PRESSURE_DOWN', 0],
    ['PRESSURE_UP', 200],
  ] as const) {
    it(`${button} clamps at ${limit} bar, and more presses leave it there`, async function () {
      const start = await stateNow('pressure');
      if (!carries('pressure', start)) return;
      const needed = Math.abs(limit - start) / 5;
      const w = await burstAndJudge(repeat(button, needed + 3));
      expect(w.violations, describeViolations(w)).to.deep.equal([]);
      // Presses still in flight when the drain time ran out are judged by the invariants at the end.
      const pending = w.presses.filter((p) => p.outcome === 'pending').length;
      precondition(pending === 0, `${pending} of ${needed + 3} presses were still in flight when the burst's drain time ran out; the invariants judge them at the end of the test`);
      expect(w.presses.filter((p) => p.outcome === 'processed')).to.have.length(needed + 3 - pending);
      expect(await stateNow('pressure')).to.equal(limit);
      // The panel said so on its console.
      const limitLines = [...session().log.since(w.window.from)].filter((o) => o.source === 'pi' && /Pressure: .* \(limit\)/.test(o.text ?? ''));
      expect(limitLines.length, 'the "(limit)" lines').to.be.at.least(1);
    });
  }
});
