import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import { ButtonPresser, LimitError, type PressRecord } from '../../harness/core/buttons.ts';
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
  const presser = new ButtonPresser(outs, limits, log, { clock });
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

  it('dates a press and its release when they were commanded, even if the process gets back to them late', async function () {
    // The write is made when set() is called; the code after it runs 40 ms later (a process
    // preempted right after its write, as under CPU load). The edge that write causes can come
    // before that, so the records must carry the moment of the command.
    const { clock, log } = setup();
    const late: DigitalOutput = { name: 'A', state: 'ready', active: false, set: (on) => new Promise<void>((resolve) => clock.setTimer(() => resolve(), on ? 40 : 25)) };
    const p = new ButtonPresser(new Map([['A', late]]), { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 5 }, log, { clock });
    const rec = (await pressAndRun(clock, p.press('A', { holdMs: 30 }), 200)) as PressRecord;
    expect(Number(log.at(rec.pressIndex)!.t) / 1e6, 'press dated at').to.equal(0);
    // The release is commanded after the hold, which began once set(true) returned (40 ms).
    expect(Number(log.at(rec.releaseIndex)!.t) / 1e6, 'release dated at').to.equal(70);
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
    await pressAndRun(clock, presser.tap('A'), 30);
    await clock.advance(10);
    const e = await refused(presser.tap('A'));
    expect(e.limit).to.equal('minGapMs');
    expect(e.message).to.equal("A: pressed again 10.0 ms after its release; the rig's minGapMs is 30 ms (release time + debounce)");
    await pressAndRun(clock, presser.tap('B'), 30);
    await clock.advance(20);
    await pressAndRun(clock, presser.tap('A'), 30); // 60 ms after A's release: fine
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
      await pressAndRun(clock, presser.tap(n), 10);
      await clock.advance(10);
    }
    const e = await refused(presser.tap('C'));
    expect(e.limit).to.equal('maxPressesPerSec');
    expect(e.message).to.equal("C: this would be press 6 within 1 s; the rig's maxPressesPerSec is 5");
    await clock.advance(1000);
    await pressAndRun(clock, presser.tap('C'), 10);
  });

  it('releases even when the wait is interrupted by an error', async function () {
    const { clock, outs, log } = setup();
    const failing = new Map([...outs].map(([k, v]) => [k, v] as const));
    const presser = new ButtonPresser(failing, { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 5 }, log, {
      clock: {
        now: () => clock.now(),
        setTimer: (_fn, _ms) => {
          throw new Error('timer broke');
        },
        clearTimer: () => undefined,
      },
    });
    const e = await refused(presser.tap('A'));
    expect(e.message).to.equal('timer broke');
    expect(outs.get('A')!.active).to.equal(false);
  });

  it('names the buttons when asked for one that does not exist', async function () {
    const { presser } = setup();
    const e = await refused(presser.press('Z'));
    expect(e.message).to.equal('no button "Z" on this rig; buttons: A, B, C');
  });
  it('holds a press without holdMs until release(), and refuses a release before the minimum hold', async function () {
    const { clock, log, outs, presser } = setup();
    const rec = await presser.press('A');
    expect(rec.releaseIndex).to.equal(-1);
    expect(outs.get('A')!.active).to.equal(true);
    expect(presser.heldButtons).to.deep.equal(['A']);
    await clock.advance(10);
    const early = await refused(presser.release('A'));
    expect(early.limit).to.equal('minHoldMs');
    expect(early.message).to.contain('it is still held');
    expect(outs.get('A')!.active).to.equal(true);
    await clock.advance(200);
    const done = await presser.release('A');
    expect(done.pressId).to.equal(rec.pressId);
    expect(outs.get('A')!.active).to.equal(false);
    expect(log.at(done.releaseIndex)!.fields).to.deep.equal({ press_id: rec.pressId, button: 'A' });
    expect((await refused(presser.release('A'))).limit).to.equal('notHeld');
  });

  it('refuses every command the guard refuses, before anything is energised', async function () {
    const clock = new VirtualClock(0n);
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const outs = new Map([['A', new FakeOutput('A', clock)]]);
    let ended = false;
    const presser = new ButtonPresser(outs, { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 5 }, log, {
      clock,
      guard: (what) => {
        if (ended) throw new Error(`test ended: ${what} refused`);
      },
    });
    await pressAndRun(clock, presser.tap('A'), 30);
    ended = true;
    await clock.advance(100);
    const e = await refused(presser.tap('A'));
    expect(e.message).to.equal('test ended: press A refused');
    expect(outs.get('A')!.sets).to.have.length(2);
  });

  it('checks a whole burst before pressing anything, naming the step and the limit', function () {
    const { presser, outs } = setup({ minHoldMs: 20, minGapMs: 30, maxPressesPerSec: 3 });
    const gap = (): LimitError => {
      try {
        presser.checkBurst([
          { button: 'A', atMs: 0, holdMs: 20 },
          { button: 'B', atMs: 5, holdMs: 20 },
          { button: 'A', atMs: 40, holdMs: 20 },
        ]);
      } catch (e) {
        return e as LimitError;
      }
      throw new Error('expected a refusal');
    };
    const e = gap();
    expect(e.limit).to.equal('minGapMs');
    expect(e.message).to.equal("burst step 2 (A at 40 ms): starts 20.0 ms after the release of step 0, closer than the rig's minGapMs 30 ms");
    expect(() =>
      presser.checkBurst([
        { button: 'A', atMs: 0, holdMs: 20 },
        { button: 'B', atMs: 100, holdMs: 20 },
        { button: 'C', atMs: 200, holdMs: 20 },
        { button: 'A', atMs: 900, holdMs: 20 },
      ]),
    ).to.throw(LimitError, "burst step 3 (A at 900 ms): press 4 within 1 s; the rig's maxPressesPerSec is 3");
    expect(() => presser.checkBurst([{ button: 'A', atMs: 0, holdMs: 5 }])).to.throw(LimitError, 'minHoldMs');
    expect(() => presser.checkBurst([{ button: 'Q', atMs: 0, holdMs: 50 }])).to.throw('no button "Q"');
    // A burst exactly at the limits is fine.
    presser.checkBurst([
      { button: 'A', atMs: 0, holdMs: 20 },
      { button: 'A', atMs: 50, holdMs: 20 },
      { button: 'B', atMs: 50, holdMs: 20 },
    ]);
    for (const o of outs.values()) expect(o.sets).to.deep.equal([]);
  });

  it('performs a burst on its schedule, channels overlapping, with every press recorded', async function () {
    const { clock, log, outs, presser } = setup({ minHoldMs: 20, minGapMs: 30, maxPressesPerSec: 10 });
    const done = presser.burst([
      { button: 'A', atMs: 0, holdMs: 40 },
      { button: 'B', atMs: 10, holdMs: 20 },
      { button: 'A', atMs: 70, holdMs: 20 },
    ]);
    await clock.advance(200);
    const r = await done;
    expect(r.presses.map((p) => p.button)).to.deep.equal(['A', 'B', 'A']);
    expect(r.lateMs).to.deep.equal([0, 0, 0]);
    expect(outs.get('A')!.sets).to.deep.equal([
      { active: true, tMs: 0 },
      { active: false, tMs: 40 },
      { active: true, tMs: 70 },
      { active: false, tMs: 90 },
    ]);
    expect(outs.get('B')!.sets).to.deep.equal([
      { active: true, tMs: 10 },
      { active: false, tMs: 30 },
    ]);
    const kinds = [...log.since(0)].map((o) => `${o.kind}${o.fields?.button ? ':' + String(o.fields.button) : ''}`);
    expect(kinds).to.deep.equal(['burst', 'press:A', 'press:B', 'release:B', 'release:A', 'press:A', 'release:A', 'burst_end']);
  });

  it('stops a burst when its signal aborts, releasing what is held', async function () {
    const { clock, outs, presser } = setup({ minHoldMs: 20, minGapMs: 30, maxPressesPerSec: 10 });
    const ac = new AbortController();
    const done = refused(
      presser.burst(
        [
          { button: 'A', atMs: 0, holdMs: 50 },
          { button: 'B', atMs: 100, holdMs: 20 },
        ],
        { signal: ac.signal },
      ),
    );
    await clock.advance(10);
    ac.abort(new Error('test ended'));
    await clock.advance(200);
    expect((await done).message).to.equal('test ended');
    expect(outs.get('A')!.active).to.equal(false);
    expect(outs.get('B')!.sets).to.deep.equal([]);
  });

  it('halt: the burst in flight ends at once (no waiting out its schedule), no press after it, every later press refused', async function () {
    const { clock, outs, presser } = setup({ minHoldMs: 20, minGapMs: 30, maxPressesPerSec: 10 });
    const done = refused(
      presser.burst([
        { button: 'A', atMs: 0, holdMs: 50 },
        { button: 'B', atMs: 100, holdMs: 20 },
        { button: 'A', atMs: 200, holdMs: 20 },
      ]),
    );
    await clock.advance(10);
    presser.halt(new Error('stopped (SIGINT)'));
    // Woken, not timed out: no further clock time is needed for the burst to end.
    expect((await done).message).to.equal('stopped (SIGINT)');
    // A, held for 50 ms, is released at the halt (10 ms), not at the end of its hold.
    expect(outs.get('A')!.sets).to.deep.equal([
      { active: true, tMs: 0 },
      { active: false, tMs: 10 },
    ]);
    expect(outs.get('B')!.sets).to.deep.equal([]);
    await clock.advance(500);
    expect(outs.get('B')!.sets).to.deep.equal([]);
    expect((await refused(presser.tap('B'))).message).to.equal('stopped (SIGINT)');
    expect(outs.get('B')!.sets).to.deep.equal([]);
  });

  it('forgetHeld records a release for every held press (relays parked behind its back)', async function () {
    const { log, presser } = setup();
    const a = await presser.press('A');
    presser.forgetHeld('parked after test');
    expect(presser.heldButtons).to.deep.equal([]);
    const last = [...log.since(0)].at(-1)!;
    expect(last.kind).to.equal('release');
    expect(last.fields).to.deep.equal({ press_id: a.pressId, button: 'A', reason: 'parked after test' });
  });
});
