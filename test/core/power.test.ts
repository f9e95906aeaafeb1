import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import type { DigitalOutput, PartState } from '../../harness/core/interfaces.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { RelayPower } from '../../harness/core/power.ts';

class FakeOutput implements DigitalOutput {
  readonly name = 'power-relay';
  readonly state: PartState = 'ready';
  readonly sets: Array<{ active: boolean; tMs: number }> = [];
  constructor(
    private readonly clock: VirtualClock,
    public active = false,
  ) {}
  set(active: boolean): Promise<void> {
    this.active = active;
    this.sets.push({ active, tMs: Number(this.clock.now()) / 1e6 });
    return Promise.resolve();
  }
}

describe('RelayPower', function () {
  function setup(contact: 'NC' | 'NO', relayActive = false) {
    const clock = new VirtualClock(0n);
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const out = new FakeOutput(clock, relayActive);
    const power = new RelayPower('pi', out, { contact, minOffMs: 500 }, log, clock);
    return { clock, log, out, power };
  }

  it('NC wiring: a released relay is power on; off energises it', async function () {
    const { out, power } = setup('NC');
    expect(power.isOn).to.equal(true);
    await power.off();
    expect(out.active).to.equal(true);
    expect(power.isOn).to.equal(false);
    await power.on();
    expect(out.active).to.equal(false);
  });

  it('NO wiring: an energised relay is power on', async function () {
    const { out, power } = setup('NO');
    expect(power.isOn).to.equal(false);
    await power.on();
    expect(out.active).to.equal(true);
  });

  it('a cycle stays off for at least minOffMs and records off and on', async function () {
    const { clock, out, power, log } = setup('NC');
    const p = power.cycle();
    await clock.advance(499);
    expect(power.isOn).to.equal(false);
    await clock.advance(1);
    await p;
    expect(out.sets).to.deep.equal([
      { active: true, tMs: 0 },
      { active: false, tMs: 500 },
    ]);
    expect([...log.since(0)].map((o) => `${o.kind}:${String(o.fields!.reason)}`)).to.deep.equal(['off:cycle', 'on:cycle']);
  });

  it('refuses a cycle shorter than minOffMs, naming the limit, and leaves the power alone', async function () {
    const { out, power } = setup('NC');
    const e = await power.cycle(100).then(
      (): Error & { limit?: string } => new Error('expected a refusal'),
      (x: unknown) => x as Error & { limit?: string },
    );
    expect(e.limit).to.equal('minOffMs');
    expect(e.message).to.equal("pi: a power cycle with 100 ms off is shorter than the rig's minOffMs 500 ms (the supply would not discharge)");
    expect(out.sets).to.deep.equal([]);
  });
});
