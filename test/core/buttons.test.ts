import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import { ButtonPresser, LimitError } from '../../harness/core/buttons.ts';
import type { DigitalOutput, PartState } from '../../harness/core/interfaces.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';

/** A fake output: records what was set and when (first-class, one per test). */
class FakeOutput implements DigitalOutput {
  readonly state: PartState = 'ready';
  active = false;
  readonly sets: Array<{ active: boolean; tMs: number }> = [];
  constructor(
    readonly name: string,
    private readonly clock: VirtualClock,
  ) {}
  set(active: boolean): Promise<void> {
    this.active = active;
    this.sets.push({ active, tMs: Number(this.clock.now()) / 1e6 });
    return Promise.resolve();
  }
}

function setup(limits = { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 5 }) {
  const clock = new VirtualClock(0n);
  const log = new ObservationLog({ clock, schedule: queueMicrotask });
  const outs = new Map(['A', 'B', 'C'].map((n) => [n, new FakeOutput(n, clock)]));
  const presser = new ButtonPresser(outs, limits, log, clock);
  return { clock, log, outs, presser };
}

/** The error a press was refused with; a press that went through fails the test. */
function refused(p: Promise<unknown>): Promise<LimitError> {
  return p.then(
    () => {
      throw new Error('expected the press to be refused');
    },
    (x: unknown) => x as LimitError,
  );
}

async function pressAndRun(clock: VirtualClock, p: Promise<unknown>, ms: number) {
  await clock.advance(ms);
  return p;
}

describe('ButtonPresser', function () {
  it('energises for the hold, releases, and records press/release with a press id', async function () {
    const { clock, log, outs, presser } = setup();
    const rec = await pressAndRun(clock, presser.press('A', { holdMs: 50 }), 50);
    expect(outs.get('A')!.sets).to.deep.equal([
      { active: true, tMs: 0 },
      { active: false, tMs: 50 },
    ]);
    expect(rec).to.deep.equal({ pressId: 1, button: 'A', pressIndex: 0, releaseIndex: 1 });
    expect(log.at(0)!.fields).to.deep.equal({ press_id: 1, button: 'A', hold_ms: 50 });
    expect(log.at(1)!.kind).to.equal('release');
  });

  it('refuses a hold shorter than the relay needs, naming the limit, and energises nothing', async function () {
    const { outs, presser } = setup();
    const e = await refused(presser.press('A', { holdMs: 10 }));
    expect(e).to.be.instanceOf(LimitError);
    expect(e.limit).to.equal('minHoldMs');
    expect(e.message).to.equal("A: a hold of 10 ms is shorter than the rig's minHoldMs 30 ms (the relay contact would not make reliably)");
    expect(outs.get('A')!.sets).to.deep.equal([]);
  });

  it('refuses a second press on a channel before its gap, but not on another channel', async function () {
    const { clock, presser } = setup();
    await pressAndRun(clock, presser.press('A'), 30);
    await clock.advance(10);
    const e = await refused(presser.press('A'));
    expect(e.limit).to.equal('minGapMs');
    expect(e.message).to.equal("A: pressed again 10.0 ms after its release; the rig's minGapMs is 30 ms (release time + debounce)");
    await pressAndRun(clock, presser.press('B'), 30);
    await clock.advance(20);
    await pressAndRun(clock, presser.press('A'), 30); // 60 ms after A's release: fine
  });

  it('refuses a press on a held button', async function () {
    const { clock, presser } = setup();
    const first = presser.press('A', { holdMs: 100 });
    const e = await refused(presser.press('A'));
    expect(e.limit).to.equal('held');
    await pressAndRun(clock, first, 100);
  });

  it('refuses more presses per second than the rig allows, and allows them again a second later', async function () {
    const { clock, presser } = setup({ minHoldMs: 10, minGapMs: 10, maxPressesPerSec: 5 });
    const names = ['A', 'B', 'C', 'A', 'B'];
    for (const n of names) {
      await pressAndRun(clock, presser.press(n), 10);
      await clock.advance(10);
    }
    const e = await refused(presser.press('C'));
    expect(e.limit).to.equal('maxPressesPerSec');
    expect(e.message).to.equal("C: this would be press 6 within 1 s; the rig's maxPressesPerSec is 5");
    await clock.advance(1000);
    await pressAndRun(clock, presser.press('C'), 10);
  });

  it('releases even when the wait is interrupted by an error', async function () {
    const { clock, outs, log } = setup();
    const failing = new Map([...outs].map(([k, v]) => [k, v] as const));
    const presser = new ButtonPresser(failing, { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 5 }, log, {
      now: () => clock.now(),
      setTimer: (_fn, _ms) => {
        throw new Error('timer broke');
      },
      clearTimer: () => undefined,
    });
    const e = await refused(presser.press('A'));
    expect(e.message).to.equal('timer broke');
    expect(outs.get('A')!.active).to.equal(false);
  });

  it('names the buttons when asked for one that does not exist', async function () {
    const { presser } = setup();
    const e = await refused(presser.press('Z'));
    expect(e.message).to.equal('no button "Z" on this rig; buttons: A, B, C');
  });
});
