/**
 * The scenario helpers on a long run: the log keeps a window of observations, so "the panel's
 * state" and "is the queue idle" must not depend on lines that have left it.
 */
import { expect } from 'chai';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { QueueDepths } from '../../harness/core/queue-depth.ts';
import { beginRun, endRun, RunContext } from '../../harness/runner/context.ts';
import type { RigSession } from '../../harness/runner/session.ts';
import { INITIAL_PANEL_STATE, panelState, waitIdle } from '../../scenarios/support/bench.ts';

describe('scenario helpers on a run longer than the log window', function () {
  let log: ObservationLog;
  let run: RunContext;
  beforeEach(function () {
    log = new ObservationLog({ window: 64 });
    // The session's parts the helpers read: its log and its live queue depths, fed as the session feeds them.
    const depth = new QueueDepths();
    log.on('*', (o) => depth.observe(o));
    run = new RunContext({ session: { log, live: { presses: 0, requests: 0, depth } } as unknown as RigSession });
    beginRun(run);
  });
  afterEach(function () {
    endRun(run);
  });

  const hb = (depth: number) => log.record('pi', 'hb', { thread: 'processor', depth, processed: 0 });

  it('panelState is the last state line even after it left the window; a boot resets it', function () {
    log.record('pi', 'boot', {});
    log.record('pi', 'state', { ...INITIAL_PANEL_STATE, reactor: 1, pressure: 135 });
    expect(panelState()).to.include({ reactor: 1, pressure: 135 }); // followed from here on
    for (let k = 0; k < 500; k++) hb(0);
    expect(log.windowStart).to.be.greaterThan(100);
    expect(panelState()).to.include({ reactor: 1, pressure: 135 });
    log.record('pi', 'state', { ...INITIAL_PANEL_STATE, reactor: 1, pressure: 140 });
    expect(panelState().pressure).to.equal(140);
    log.record('pi', 'boot', {});
    expect(panelState()).to.deep.equal(INITIAL_PANEL_STATE);
  });

  it('waitIdle: idle now when the last depth report says 0, however long ago the run started', async function () {
    for (let k = 0; k < 500; k++) hb(0);
    await waitIdle('pi', 50);
  });

  it('waitIdle: a busy queue waits for the next report of depth 0, and times out if none comes', async function () {
    hb(0);
    await waitIdle('pi', 50); // start following
    log.record('pi', 'q_put', { btn: 'PRESSURE_UP', depth: 3, cap: 100 });
    const idle = waitIdle('pi', 2000);
    setTimeout(() => hb(0), 20);
    await idle;
    log.record('pi', 'q_put', { btn: 'PRESSURE_UP', depth: 1, cap: 100 });
    const err = await waitIdle('pi', 60).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/pi queue empty/);
  });
});
