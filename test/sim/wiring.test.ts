/** The sim's wiring plan from a rig: exactly what the rig describes, and clear errors otherwise. */
import { expect } from 'chai';
import { BUTTONS, DEFAULT_GPIO_MAP } from '../../harness/devices/panel.ts';
import { planBench, simWiring } from '../../harness/sim/wiring.ts';
import simBench from '../../rigs/sim-bench.ts';
import rewired from '../fixtures/rigs/sim-rewired.ts';

describe('sim wiring plan (planBench)', function () {
  it('wires only the buttons and supplies the rig describes, on its pins', function () {
    const plan = planBench(rewired);
    const a = plan.boards.find((b) => b.name === 'relays-a')!;
    expect(a.channels.map((c) => [c.label, c.pin])).to.deep.equal([['REACTOR_START', 9], ['PRESSURE_UP', 2]]);
    const b = plan.boards.find((x) => x.name === 'relays-b')!;
    expect(b.channels.map((c) => [c.label, c.pin])).to.deep.equal([['power-pi', 5]]);
  });

  it('the panel firmware keeps its own pin for a button the rig leaves unwired, and reads the rig\'s gpio for the others', function () {
    const plan = planBench(rewired);
    expect(Object.keys(plan.piGpio).sort()).to.deep.equal([...BUTTONS].sort());
    expect(plan.piGpio.REACTOR_START).to.equal(12);
    expect(plan.piGpio.PRESSURE_UP).to.equal(4);
    expect(plan.piGpio.EMERGENCY).to.equal(DEFAULT_GPIO_MAP.EMERGENCY);
  });

  it('a rig gpio that is an unwired button\'s panel pin is refused, naming both buttons', function () {
    const rig = { ...rewired, buttons: { PRESSURE_UP: { ...rewired.buttons.PRESSURE_UP!, gpio: DEFAULT_GPIO_MAP.EMERGENCY } } };
    expect(() => planBench(rig)).to.throw(/buttons\.PRESSURE_UP\.gpio is 6, the panel's pin for EMERGENCY, which this rig does not wire/);
  });

  it('simWiring is plain data that plans the same bench as the rig itself (it crosses to the sim process as JSON)', function () {
    for (const rig of [simBench, rewired]) {
      const wiring = JSON.parse(JSON.stringify(simWiring(rig))) as ReturnType<typeof simWiring>;
      expect(planBench(wiring)).to.deep.equal(planBench(rig));
    }
  });
});
