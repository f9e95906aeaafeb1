/**
 * Every one of the 17 buttons, one at a time: pressed through its relay → seen as an edge →
 * queued → processed → the state change the panel's documentation promises. Table-driven: to add
 * a button, add a row. Rows run in order (each starts from the state the previous left, with the
 * reactor running).
 */
import { expect } from 'chai';
import { session } from '../harness/runner/context.ts';
import { panelState, tapAndProcess, type Fields } from './support/bench.ts';

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const n = (f: Fields, k: string) => Number(f[k]);

interface Row {
  button: string;
  /** What the state must look like after it, given the state before. */
  effect: (before: Fields) => Record<string, string | number>;
  says: string;
}

const rod = (r: string, d: number): Row['effect'] => (b) => ({ [`${r}_rod`]: clamp(n(b, `${r}_rod`) + d, 0, 100) });
/** A pump already on its way (STARTING/ON for ON, STOPPING/OFF for OFF) stays as it is ("already …"). */
const pump = (p: string, on: boolean): Row['effect'] => (b) => {
  const now = String(b[`pump_${p}`]);
  const moving = on ? ['STARTING', 'ON'] : ['STOPPING', 'OFF'];
  return { [`pump_${p}`]: moving.includes(now) ? now : on ? 'STARTING' : 'STOPPING' };
};

const TABLE: Row[] = [
  { button: 'REACTOR_START', effect: () => ({ reactor: 1 }), says: 'reactor running' },
  { button: 'PRESSURE_UP', effect: (b) => ({ pressure: clamp(n(b, 'pressure') + 5, 0, 200) }), says: 'pressure +5 bar' },
  { button: 'PRESSURE_DOWN', effect: (b) => ({ pressure: clamp(n(b, 'pressure') - 5, 0, 200) }), says: 'pressure −5 bar' },
  { button: 'PUMP_PRIMARY_ON', effect: pump('primary', true), says: 'primary pump starting' },
  { button: 'PUMP_PRIMARY_OFF', effect: pump('primary', false), says: 'primary pump stopping' },
  { button: 'PUMP_SECONDARY_ON', effect: pump('secondary', true), says: 'secondary pump starting' },
  { button: 'PUMP_SECONDARY_OFF', effect: pump('secondary', false), says: 'secondary pump stopping' },
  { button: 'PUMP_TERTIARY_ON', effect: pump('tertiary', true), says: 'tertiary pump starting' },
  { button: 'PUMP_TERTIARY_OFF', effect: pump('tertiary', false), says: 'tertiary pump stopping' },
  { button: 'SAFETY_ROD_UP', effect: rod('safety', 5), says: 'safety rod +5 %' },
  { button: 'SAFETY_ROD_DOWN', effect: rod('safety', -5), says: 'safety rod −5 %' },
  { button: 'SHIM_ROD_UP', effect: rod('shim', 5), says: 'shim rod +5 %' },
  { button: 'SHIM_ROD_DOWN', effect: rod('shim', -5), says: 'shim rod −5 %' },
  { button: 'REGULATING_ROD_UP', effect: rod('regulating', 5), says: 'regulating rod +5 %' },
  { button: 'REGULATING_ROD_DOWN', effect: rod('regulating', -5), says: 'regulating rod −5 %' },
  { button: 'REACTOR_STOP', effect: () => ({ reactor: 0 }), says: 'reactor stopped' },
  { button: 'EMERGENCY', effect: () => ({ reactor: 0, safety_rod: 0, shim_rod: 0, regulating_rod: 0 }), says: 'all rods in, reactor stopped' },
];

describe('buttons: each one pressed, queued, processed, and its state change', function () {
  let state: Fields;

  before(async function () {
    // Start from a stopped reactor, whatever earlier scenarios left.
    state = panelState();
    if (Number(state.reactor) === 1) {
      await tapAndProcess('REACTOR_STOP');
      state = panelState();
    }
  });

  for (const row of TABLE) {
    it(`${row.button} → queued → processed → ${row.says}`, async function () {
      const s = session();
      // The state now, from the panel's own console: after a device the harness power-cycled (an
      // earlier row hung it), that is the state it booted with, not the one the last row left.
      state = panelState();
      // Every button but REACTOR_START acts on a running reactor only ("Reactor not started!"):
      // start it first, so the row judges its own button. A panel recovered from an earlier row's
      // hang boots with the reactor stopped, and without this every row after it would fail for
      // the recovery, not for its button.
      if (row.button !== 'REACTOR_START' && Number(state.reactor) !== 1) {
        await tapAndProcess('REACTOR_START');
        state = panelState();
      }
      const want = row.effect(state);
      const { done, from } = await tapAndProcess(row.button);
      // Firmware that logs after the put may print the callback's q_put after the processor's done.
      await s.log.waitFor({ topic: 'pi.q_put', fields: { btn: row.button }, describe: `${row.button} queued (q_put)` }, { within: 1000, from });
      const changed = Object.entries(want).some(([k, v]) => String(state[k]) !== String(v));
      if (changed) {
        const st = await s.log.waitFor({ topic: 'pi.state', describe: `pi state after ${row.button}` }, { within: 1000, from: done.i });
        const after = s.log.at(st.index)!.fields!;
        for (const [k, v] of Object.entries(want)) expect(String(after[k]), `${k} after ${row.button}`).to.equal(String(v));
        state = { ...after };
      }
    });
  }
});
