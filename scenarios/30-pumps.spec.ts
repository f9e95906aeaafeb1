/**
 * Pump sequencing, seen on both devices: the panel moves a pump OFF → STARTING → ON (2 s) and
 * ON → STOPPING → OFF (1 s); the ESP hears every change over the UART (its `state src=pi` line)
 * within the rig's causality limit (the invariants check the limit; this checks the sequence).
 */
import { expect } from 'chai';
import type { Observation } from '../harness/core/observation.ts';
import { session } from '../harness/runner/context.ts';
import { panelState, precondition, tapAndProcess } from './support/bench.ts';

/** The sequence of values a key took in `source`'s state lines since `from`. */
function sequence(source: string, key: string, from: number, filter: (o: Observation) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const o of session().log.since(from)) {
    if (o.source !== source || o.kind !== 'state' || !filter(o)) continue;
    const v = o.fields?.[key];
    if (v !== undefined && out.at(-1) !== String(v)) out.push(String(v));
  }
  return out;
}

describe('pumps: sequencing on the panel, seen on the ESP', function () {
  before(async function () {
    const st = panelState();
    if (Number(st.reactor) !== 1) await tapAndProcess('REACTOR_START');
  });

  for (const pump of ['primary', 'secondary'] as const) {
    it(`${pump}: ON → STARTING → ON after 2 s, OFF → STOPPING → OFF after 1 s, on the panel and on the ESP`, async function () {
      const s = session();
      const key = `pump_${pump}`;
      // Start from OFF, whatever earlier tests left.
      if (String(panelState()[key]) !== 'OFF') {
        const stop = await tapAndProcess(`PUMP_${pump.toUpperCase()}_OFF`);
        await s.log.waitFor({ topic: 'pi.state', fields: { [key]: 'OFF' } }, { within: 4000, from: stop.from });
      }
      const initial = 'OFF';
      // The ESP hears the panel only over a link from it (an external Pi program has none).
      const espHears = precondition(s.hasLink('pi', 'esp'), 'the ESP side of the sequence: this bench has no link from pi to esp');
      const from = s.log.nextIndex;
      const on = await tapAndProcess(`PUMP_${pump.toUpperCase()}_ON`);
      if (espHears) await s.log.waitFor({ topic: 'esp.state', fields: { src: 'pi', [key]: 'ON' }, describe: `the ESP hearing ${key}=ON` }, { within: 4000, from: on.from });
      const started = s.log.at((await s.log.waitFor({ topic: 'pi.state', fields: { [key]: 'ON' } }, { within: espHears ? 100 : 4000, from: on.from })).index)!;
      const startMs = Number(started.t - on.done.t) / 1e6;
      expect(startMs, 'STARTING → ON (ms, host arrival)').to.be.within(1700, 2600);
      const off = await tapAndProcess(`PUMP_${pump.toUpperCase()}_OFF`);
      if (espHears) await s.log.waitFor({ topic: 'esp.state', fields: { src: 'pi', [key]: 'OFF' }, describe: `the ESP hearing ${key}=OFF` }, { within: 3000, from: off.from });
      else await s.log.waitFor({ topic: 'pi.state', fields: { [key]: 'OFF' } }, { within: 3000, from: off.from });
      // Other keys' changes repeat the pump's value before it moved: start at its first change.
      const changes = (seq: string[]) => (seq[0] === initial ? seq.slice(1) : seq);
      expect(changes(sequence('pi', key, from))).to.deep.equal(['STARTING', 'ON', 'STOPPING', 'OFF']);
      if (espHears) expect(changes(sequence('esp', key, from, (o) => o.fields?.src === 'pi'))).to.deep.equal(['STARTING', 'ON', 'STOPPING', 'OFF']);
    });
  }
  it('EMERGENCY while a pump is still starting: processed like any other time (rods in, reactor stopped)', async function () {
    const s = session();
    const st = panelState();
    if (Number(st.reactor) !== 1) await tapAndProcess('REACTOR_START');
    if (String(st.pump_tertiary) !== 'OFF') {
      const stop = await tapAndProcess('PUMP_TERTIARY_OFF');
      await s.log.waitFor({ topic: 'pi.state', fields: { pump_tertiary: 'OFF' } }, { within: 4000, from: stop.from });
    }
    const on = await tapAndProcess('PUMP_TERTIARY_ON');
    await s.log.waitFor({ topic: 'pi.state', fields: { pump_tertiary: 'STARTING' } }, { within: 1000, from: on.from });
    const em = await tapAndProcess('EMERGENCY');
    const after = s.log.at((await s.log.waitFor({ topic: 'pi.state', fields: { reactor: 0 } }, { within: 1000, from: em.done.i })).index)!.fields!;
    expect([after.safety_rod, after.shim_rod, after.regulating_rod].map(Number)).to.deep.equal([0, 0, 0]);
    // The panel keeps working afterwards: the pump finishes its start and can be stopped.
    await s.log.waitFor({ topic: 'pi.state', fields: { pump_tertiary: 'ON' } }, { within: 4000, from: em.done.i });
    await tapAndProcess('PUMP_TERTIARY_OFF');
  });
});
