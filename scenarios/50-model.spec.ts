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
import { commandsReplay, runProperty, runViolations } from '../harness/runner/property.ts';
import { powerCycleUntilReady } from '../harness/runner/reset.ts';
import { applyButton, advance, diffState, initialPanelState, panelStateFrom, pumpsSettled, type PanelState } from './support/panel-model.ts';
import { panelState, waitIdle } from './support/bench.ts';

const nowMs = () => Number(process.hrtime.bigint() / 1_000_000n);

interface Real {
  /** Set when the panel disagreed with the model or stopped: the next run power-cycles it. */
  diverged: boolean;
}

/** Violations the invariants saw since `from` (a death line, a queue over its bound, a hang…). */
function violationsSince(from: number, r: Real, what: string): void {
  const mon = session().invariants;
  if (!mon) return;
  mon.tick();
  // A percentile limit is the test's to judge over all its samples, not one step's (runViolations).
  const v = runViolations(mon.window(from));
  if (v.length > 0) {
    r.diverged = true;
    throw new Error(`${what}: ${v.map((x) => `${x.invariant} on ${x.device}: ${x.detail}`).join('; ')}`);
  }
}

class PressCmd implements fc.AsyncCommand<PanelState, Real> {
  constructor(readonly button: string) {}
  check = () => true;
  async run(m: PanelState, r: Real): Promise<void> {
    const s = session();
    const from = s.log.nextIndex;
    await s.buttons.tapWhenAllowed(this.button);
    const done = await s.log
      .waitFor({ topic: 'pi.done', fields: { btn: this.button }, describe: `pi processed ${this.button}` }, { within: 3000, from })
      .catch((e: unknown) => {
        violationsSince(from, r, `after ${this.button}`);
        r.diverged = true;
        throw e;
      });
    violationsSince(from, r, `after ${this.button}`);
    const changed = applyButton(m, this.button, nowMs());
    if (changed) await s.log.waitFor({ topic: 'pi.state', describe: `pi state after ${this.button}` }, { within: 1000, from: done.index });
    const diff = diffState(m, panelState(), nowMs());
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
    violationsSince(from, r, `while waiting ${this.ms} ms`);
    advance(m, nowMs());
    const diff = diffState(m, panelState(), nowMs());
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
    // A blank message is refused as a bad request (the endpoint's contract); any other is queued
    // (202) or turned away while the ring is full (503).
    const expected = this.text.trim() === '' ? [400] : [202, 503];
    expect(expected, `POST /api/message ${JSON.stringify(this.text)} answered ${res.status} ${res.error ?? ''}`).to.include(res.status);
  }
  toString = () => `http(${JSON.stringify(this.text)})`;
}

class PowerCycleCmd implements fc.AsyncCommand<PanelState, Real> {
  check = () => true;
  async run(m: PanelState): Promise<void> {
    const r = await powerCycleUntilReady(session(), 'pi');
    if (!r.ready) throw r.error;
    Object.assign(m, initialPanelState());
  }
  toString = () => 'powerCycle(pi)';
}

describe('model-based: the panel agrees with a model of its logic', function () {
  it('property: any sequence of presses, waits, requests and power cycles', async function () {
    this.timeout(240_000);
    const s = session();
    const buttons = Object.keys(s.rig.buttons);
    // The buttons that change the most state come up more often (listed three times); a power
    // cycle costs a boot, so it is one command kind in eight.
    const stateful = fc.constantFrom('REACTOR_START', 'PUMP_PRIMARY_ON', 'PUMP_SECONDARY_ON', 'PUMP_TERTIARY_ON', 'PUMP_PRIMARY_OFF', 'EMERGENCY').map((b) => new PressCmd(b));
    const cmds = [
      fc.constantFrom(...buttons).map((b) => new PressCmd(b)),
      fc.constantFrom(...buttons).map((b) => new PressCmd(b)),
      stateful,
      stateful,
      stateful,
      fc.constantFrom(100, 600, 2200).map((ms) => new WaitCmd(ms)),
      fc.string({ minLength: 1, maxLength: 20 }).map((t) => new HttpCmd(t)),
      fc.constant(new PowerCycleCmd()),
    ];
    const real: Real = { diverged: false };
    /** What the known-state resets cost, per kind: reviewers weigh it against bench time. */
    const resets = new Map<string, { n: number; ms: number }>();
    await runProperty(
      'panel matches its model',
      fc.commands(cmds, { maxCommands: 15, size: 'medium', ...commandsReplay() }),
      async (commands) => {
        // Known state, cheapest first.
        const t0 = Date.now();
        let kind = 'adopt';
        if (real.diverged) {
          kind = 'power cycle';
          await new PowerCycleCmd().run(initialPanelState());
          real.diverged = false;
        }
        let model: PanelState;
        if (kind === 'power cycle') {
          // Just booted: the documented initial state (the ESP's copy may still be the old one).
          model = initialPanelState();
        } else {
          await waitIdle('pi', 10_000);
          let f = panelState();
          for (let i = 0; i < 30 && !pumpsSettled(f); i++) {
            await new Promise((res) => setTimeout(res, 100));
            f = panelState();
          }
          model = panelStateFrom(f, nowMs());
        }
        const cost = resets.get(kind) ?? { n: 0, ms: 0 };
        cost.n++;
        cost.ms += Date.now() - t0;
        resets.set(kind, cost);
        s.log.record('harness', 'reset', { kind, ms: Date.now() - t0 });
        await fc.asyncModelRun(() => ({ model, real }), commands);
      },
      { defaultRuns: 5, defaultBudgetMs: 90_000 },
    );
    const costs = [...resets].map(([kind, c]) => `${c.n} ${kind} (${(c.ms / c.n).toFixed(0)} ms each)`);
    s.log.record('harness', 'note', { what: `resets before each run: ${costs.join(', ') || 'none'}` });
  });
});
