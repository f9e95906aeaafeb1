/**
 * A property that asks for a known state gets one before every run — the first, every later one,
 * every shrink step and a replay — by the rig's strategy, and its note says what that cost. A
 * state-dependent bug then shrinks to the presses that reach the state, not to the last one.
 * Logic only: a fake device whose "power cycle" resets its state, a real observation log.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { RunContext, withRun } from '../../harness/runner/context.ts';
import { PropertyFailure, runProperty } from '../../harness/runner/property.ts';
import { recoverStopped, resetToKnownState } from '../../harness/runner/reset.ts';
import type { RigSession } from '../../harness/runner/session.ts';
import type { RigDefinition } from '../../harness/rig/types.ts';

/** A device whose bug needs three presses of A since its last power-up, in any runs. */
class Device {
  presses = 0;
  cycles = 0;
  press(): void {
    this.presses++;
    if (this.presses >= 3) throw new Error(`stuck after ${this.presses} presses since power-up`);
  }
}

function fakeSession(dev: Device, rig: Partial<RigDefinition>): { session: RigSession; log: ObservationLog } {
  const log = new ObservationLog();
  const power = {
    cycle: async (): Promise<void> => {
      dev.cycles++;
      dev.presses = 0;
      await Promise.resolve();
      log.append({ t: log.clock.now(), source: 'pi', kind: 'line', text: 'ready' });
    },
  };
  const full: RigDefinition = { name: 'fake', boards: {}, buttons: {}, limits: { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 10 }, devices: { pi: { port: { path: '/dev/null' }, ready: /ready/ } }, power: {}, ...rig };
  const session = { rig: full, log, power: () => power } as unknown as RigSession;
  return { session, log };
}

const notes = (log: ObservationLog): string[] => [...log.since(0)].filter((o) => o.source === 'harness' && o.kind === 'note').map((o) => String(o.fields?.what));

async function failure(p: Promise<unknown>): Promise<PropertyFailure> {
  try {
    await p;
  } catch (e) {
    return e as PropertyFailure;
  }
  throw new Error('expected the property to fail');
}

describe('properties from a known state', function () {
  const property = (dev: Device, reset: string[] | undefined) =>
    runProperty(
      'presses',
      fc.integer({ min: 0, max: 2 }),
      async (n) => {
        for (let k = 0; k < n; k++) dev.press();
        await Promise.resolve();
      },
      { defaultRuns: 40, defaultBudgetMs: 20_000, ...(reset ? { reset } : {}) },
    );

  it('without one, state from earlier runs is blamed on a run that cannot reproduce it', async function () {
    const dev = new Device();
    const { session } = fakeSession(dev, { power: { pi: { board: 'b', pin: 2, activeLow: false, contact: 'NC', minOffMs: 0, bootMs: 100 } } });
    const e = await withRun(new RunContext({ session }), () => failure(property(dev, undefined)));
    // Shrunk to one press: the device was stuck by then, whatever ran.
    expect(/counterexample: (\d+)/.exec(e.message)?.[1]).to.equal('1');
    expect(dev.cycles).to.equal(0);
  });

  it('with one, every run starts from a power cycle: a bug that needs three presses never shows in runs of at most two, and the cost is noted', async function () {
    const dev = new Device();
    const { session, log } = fakeSession(dev, { power: { pi: { board: 'b', pin: 2, activeLow: false, contact: 'NC', minOffMs: 0, bootMs: 100 } } });
    const r = await withRun(new RunContext({ session }), () => property(dev, ['pi']));
    expect(r.failed).to.equal(false);
    expect(dev.cycles).to.equal(r.numRuns);
    expect(notes(log).find((n) => n.includes('known state'))).to.match(/^presses: known state before every run: 40 power cycle of pi \(\d+\.\d s each\); \d+\.\d s = \d+ % of its \d+\.\d s$/);
  });

  it('a rig with no power relay and no reset strategy for the device: a configuration error before any run', async function () {
    const dev = new Device();
    const { session } = fakeSession(dev, {});
    let runs = 0;
    const err = await withRun(new RunContext({ session }), () => runProperty('p', fc.constant(1), () => Promise.resolve(void runs++), { defaultRuns: 3, defaultBudgetMs: 1000, reset: ['pi'] }).catch((e: unknown) => e as Error));
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.match(/rig fake has no way to bring pi to a known state: it has no power relay for it and no reset strategy/);
    expect((err as { configError?: boolean }).configError).to.equal(true);
    expect(runs).to.equal(0);
  });

  it('each run the bench performed is recorded (property_run: phase, size, outcome, ms), so a shrink reads back run by run', async function () {
    const dev = new Device();
    const { session, log } = fakeSession(dev, { power: { pi: { board: 'b', pin: 2, activeLow: false, contact: 'NC', minOffMs: 0, bootMs: 100 } } });
    // Three presses in one run: the bug, from the known state.
    const e = await withRun(new RunContext({ session, settings: { seed: 3 } }), () =>
      failure(
        runProperty('presses', fc.array(fc.constant('A'), { maxLength: 6 }), async (xs) => void (xs.forEach(() => dev.press()), await Promise.resolve()), {
          defaultRuns: 40,
          defaultBudgetMs: 20_000,
          reset: ['pi'],
          confirmRuns: 0,
        }),
      ),
    );
    expect(/counterexample: (.*)/.exec(e.message)?.[1]).to.equal('["A","A","A"]');
    const runs = [...log.since(0)].filter((o) => o.source === 'harness' && o.kind === 'property_run').map((o) => o.fields!);
    expect(runs.length).to.be.greaterThan(1);
    for (const r of runs) {
      expect(r.property).to.equal('presses');
      expect(r.outcome === 'passed' || r.outcome === 'failed', String(r.outcome)).to.equal(true);
      expect(r.outcome).to.equal(Number(r.size) >= 3 ? 'failed' : 'passed');
      expect(r.ms).to.be.a('number');
    }
    const firstShrink = runs.findIndex((r) => r.phase === 'shrink');
    expect(runs.slice(0, firstShrink).map((r) => r.outcome).at(-1), 'the runs end on the first failure, then shrinking').to.equal('failed');
    expect(runs.slice(firstShrink).every((r) => r.phase === 'shrink')).to.equal(true);
    expect(runs.filter((r) => r.outcome === 'failed').map((r) => r.size), 'the counterexample is a run that failed').to.include(3);
  });

  it('a stopped device the harness recovered by a power cycle, with nothing since, is in the known state: no second cycle', async function () {
    const dev = new Device();
    const powered = { power: { pi: { board: 'b', pin: 2, activeLow: false, contact: 'NC' as const, minOffMs: 0, bootMs: 100 } } };
    const { session, log } = fakeSession(dev, powered);
    // Nothing known yet: a power cycle; and again after one (only a recovery marks the device fresh).
    expect((await resetToKnownState(session, 'pi')).kind).to.equal('power cycle');
    expect((await resetToKnownState(session, 'pi')).kind).to.equal('power cycle');
    expect(dev.cycles).to.equal(2);
    // A press after a recovery: a power cycle.
    await recoverStopped(session, 'pi');
    dev.press();
    log.record('buttons', 'press', { button: 'A' });
    expect((await resetToKnownState(session, 'pi')).kind).to.equal('power cycle');
    expect([dev.cycles, dev.presses]).to.deep.equal([4, 0]);
    // Recovered after a hang, then nothing: already there.
    log.record('buttons', 'press', { button: 'A' });
    await recoverStopped(session, 'pi', 'stopped during a burst');
    expect(dev.cycles).to.equal(5);
    expect(await resetToKnownState(session, 'pi')).to.deep.equal({ device: 'pi', kind: 'fresh from a power cycle', ms: 0 });
    expect(dev.cycles).to.equal(5);
    // An HTTP request, a power switch or a violation of the device's since: a power cycle again.
    for (const since of [
      () => log.record('http', 'request', { device: 'pi', path: '/' }),
      () => log.record('power', 'off', { device: 'pi', reason: 'off' }),
      () => log.record('invariants', 'violation', { device: 'pi', invariant: 'heartbeat' }),
    ]) {
      await recoverStopped(session, 'pi');
      since();
      const before = dev.cycles;
      expect((await resetToKnownState(session, 'pi')).kind).to.equal('power cycle');
      expect(dev.cycles).to.equal(before + 1);
    }
    // Another device's violation does not touch this one.
    await recoverStopped(session, 'pi');
    log.record('invariants', 'violation', { device: 'esp', invariant: 'heartbeat' });
    expect((await resetToKnownState(session, 'pi')).kind).to.equal('fresh from a power cycle');
  });
});
