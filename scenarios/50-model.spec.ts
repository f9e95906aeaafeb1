/**
 * Model-based: random sequences of small commands — press a button, wait, send an HTTP request,
 * power-cycle the panel — run against the panel and, in step, against a model of its logic
 * (support/panel-model.ts). After every command the panel's own `state` lines must agree with the
 * model. Each run starts from a known state by the cheapest reliable reset: adopt the state the
 * panel reports once it is idle and its pumps have settled; a power cycle only when the panel
 * diverged from the model or stopped. What resets cost is recorded (`harness.reset`).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { session } from '../harness/runner/context.ts';
import { runProperty } from '../harness/runner/property.ts';
import { readyExpectation } from '../harness/core/ready.ts';
import { applyButton, advance, diffState, initialPanelState, panelStateFrom, pumpsSettled, type PanelState } from './support/panel-model.ts';
import { panelStateViaEsp, waitIdle } from './support/bench.ts';

const nowMs = () => Number(process.hrtime.bigint() / 1_000_000n);

interface Real {
  /** Set when the panel disagreed with the model or stopped: the next run power-cycles it. */
  diverged: boolean;
}

/** The panel's latest full state: its last `state` line since `from`, else the ESP's copy. */
async function deviceState(from: number): Promise<Record<string, string | number>> {
  const s = session();
  let last: Record<string, string | number> | undefined;
  for (const o of s.log.since(from)) if (o.source === 'pi' && o.kind === 'state' && o.fields) last = { ...o.fields };
  return last ?? { ...(await panelStateViaEsp()) };
}

class PressCmd implements fc.AsyncCommand<PanelState, Real> {
  constructor(readonly button: string) {}
  check = () => true;
  async run(m: PanelState, r: Real): Promise<void> {
    const s = session();
    const from = s.log.nextIndex;
    await s.buttons.tapWhenAllowed(this.button);
    const done = await s.log.waitFor({ topic: 'pi.done', fields: { btn: this.button }, describe: `pi processed ${this.button}` }, { within: 3000, from });
    const changed = applyButton(m, this.button, nowMs());
    if (changed) await s.log.waitFor({ topic: 'pi.state', describe: `pi state after ${this.button}` }, { within: 1000, from: done.index });
    const diff = diffState(m, await deviceState(from), nowMs());
    if (diff.length > 0) {
      r.diverged = true;
      throw new Error(`after ${this.button} the panel disagrees with the model: ${diff.join('; ')}`);
    }
  }
  toString = () => `press(${this.button})`;
}

class WaitCmd implements fc.AsyncCommand<PanelState, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: PanelState, r: Real): Promise<void> {
    const from = session().log.nextIndex;
    await new Promise((res) => setTimeout(res, this.ms));
    advance(m, nowMs());
    // The ESP's copy of the panel state is complete and at most ~100 ms old (STATE every 100 ms);
    // the comparison allows pumps that much either side of a transition.
    const diff = diffState(m, await panelStateViaEsp(), nowMs());
    if (diff.length > 0) {
      r.diverged = true;
      throw new Error(`after waiting ${this.ms} ms the panel disagrees with the model: ${diff.join('; ')} (from #${from})`);
    }
  }
  toString = () => `wait(${this.ms})`;
}

class HttpCmd implements fc.AsyncCommand<PanelState, Real> {
  constructor(readonly text: string) {}
  check = () => true;
  async run(): Promise<void> {
    const res = await session().http('esp').request({ path: '/api/message', body: { text: this.text } });
    expect([202, 503], `POST /api/message answered ${res.status} ${res.error ?? ''}`).to.include(res.status);
  }
  toString = () => `http(${JSON.stringify(this.text)})`;
}

class PowerCycleCmd implements fc.AsyncCommand<PanelState, Real> {
  check = () => true;
  async run(m: PanelState): Promise<void> {
    const s = session();
    const from = s.log.nextIndex;
    await s.power('pi').cycle();
    await s.log.waitFor(readyExpectation('pi', s.rig.devices.pi?.ready), { within: (s.rig.power.pi?.bootMs ?? 10_000) + 5000, from });
    Object.assign(m, initialPanelState());
  }
  toString = () => 'powerCycle(pi)';
}

describe('model-based: the panel agrees with a model of its logic', function () {
  it('property: any sequence of presses, waits, requests and power cycles', async function () {
    this.timeout(240_000);
    const s = session();
    const buttons = Object.keys(s.rig.buttons);
    const cmds = [
      fc.constantFrom(...buttons).map((b) => new PressCmd(b)),
      fc.constantFrom(...['REACTOR_START', 'PUMP_PRIMARY_ON', 'PUMP_SECONDARY_ON', 'PUMP_TERTIARY_ON', 'EMERGENCY']).map((b) => new PressCmd(b)),
      fc.constantFrom(100, 600, 2200).map((ms) => new WaitCmd(ms)),
      fc.string({ minLength: 1, maxLength: 20 }).map((t) => new HttpCmd(t)),
      fc.constant(new PowerCycleCmd()),
    ];
    const real: Real = { diverged: false };
    let resets = 0;
    let resetMs = 0;
    await runProperty(
      'panel matches its model',
      fc.commands(cmds, { maxCommands: 15, size: 'medium' }),
      async (commands) => {
        // Known state, cheapest first.
        const t0 = Date.now();
        let kind = 'adopt';
        if (real.diverged) {
          kind = 'power cycle';
          await new PowerCycleCmd().run(initialPanelState());
          real.diverged = false;
        }
        await waitIdle('pi', 10_000, 0);
        let f = await panelStateViaEsp();
        for (let i = 0; i < 30 && !pumpsSettled(f); i++) {
          await new Promise((res) => setTimeout(res, 100));
          f = await panelStateViaEsp();
        }
        const model = panelStateFrom(f, nowMs());
        resets++;
        resetMs += Date.now() - t0;
        s.log.record('harness', 'reset', { kind, ms: Date.now() - t0 });
        await fc.asyncModelRun(() => ({ model, real }), commands);
      },
      { defaultRuns: 6, defaultBudgetMs: 90_000 },
    );
    s.log.record('harness', 'note', { what: `model-based resets: ${resets}, ${(resetMs / Math.max(1, resets)).toFixed(0)} ms on average` });
  });
});
