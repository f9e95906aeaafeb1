/**
 * One run, one context: scenarios reach the run through one slot, which a second run in the same
 * process may not take, and which is empty again once the run ends, however it ended.
 */
import { expect } from 'chai';
import { activeRun, beginRun, currentSession, endRun, RunAlreadyActive, RunContext, runSettings, session, withRun } from '../../harness/runner/context.ts';
import { runScenarios } from '../../harness/runner/run.ts';
import type { RigSession } from '../../harness/runner/session.ts';

describe('run context', function () {
  afterEach(function () {
    const left = activeRun();
    if (left) endRun(left);
  });

  it('outside a run the scenario API says where scenarios run, and the settings are empty', function () {
    expect(() => session()).to.throw(/no rig session: scenarios run under `hil run`/);
    expect(currentSession()).to.equal(undefined);
    expect(runSettings()).to.deep.equal({});
  });

  it('a run\'s session and settings are reachable from the moment it attaches until it detaches', async function () {
    const fake = { name: 'fake' } as unknown as RigSession;
    const ctx = new RunContext();
    await withRun(ctx, () => {
      expect(currentSession()).to.equal(undefined);
      ctx.attach(fake, { settings: { runs: 7 }, replayDir: '/tmp/x' });
      expect(session()).to.equal(fake);
      expect(runSettings()).to.deep.equal({ runs: 7 });
      expect(ctx.replayDir).to.equal('/tmp/x');
      ctx.detach();
      expect(currentSession()).to.equal(undefined);
      expect(ctx.replayDir).to.equal(undefined);
    });
    expect(activeRun()).to.equal(undefined);
  });

  it('a second run in the same process is refused while one is going, and allowed once it ended', function () {
    const first = new RunContext();
    beginRun(first);
    expect(() => beginRun(new RunContext())).to.throw(RunAlreadyActive, /another hil run is already going in this process/);
    expect(activeRun()).to.equal(first);
    endRun(first);
    const second = new RunContext();
    beginRun(second);
    expect(activeRun()).to.equal(second);
  });

  it('the slot is given back when the run throws', async function () {
    const ctx = new RunContext();
    const err = await withRun(ctx, () => Promise.reject(new Error('boom'))).catch((e: unknown) => e as Error);
    expect(err.message).to.equal('boom');
    expect(activeRun()).to.equal(undefined);
  });

  it('runScenarios refuses to start while another run holds the slot, before it reads the rig, and leaves that run in place', async function () {
    const other = new RunContext();
    beginRun(other);
    const err = await runScenarios({ rig: '/nonexistent/rig.ts', out: '/nonexistent/reports' }).catch((e: unknown) => e as Error);
    expect(err).to.be.instanceOf(RunAlreadyActive);
    expect(activeRun()).to.equal(other);
  });

  it('the run phases: opening until the bench is up, then running, then finished', function () {
    const ctx = new RunContext();
    expect(ctx.state.phase).to.equal('opening');
    ctx.state.start();
    expect(ctx.state.phase).to.equal('running');
    ctx.state.finish();
    expect(ctx.state.phase).to.equal('finished');
  });
});
