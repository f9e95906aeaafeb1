/**
 * Shrinking guided by how the burst failed: the candidates the failure points at run first, a
 * state-dependent bug shrinks to the presses it needs in a few bench runs, and `hil replay` runs
 * the very value that was reported. In-memory firmware models stand in for the bench (the logic
 * of choosing candidates); the scenario's end-to-end use runs in the fault matrix.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import type { BurstStep } from '../../harness/core/buttons.ts';
import type { PressRow, WindowResult } from '../../harness/core/invariants/report.ts';
import type { Violation } from '../../harness/core/invariants/types.ts';
import { RunContext, withRun } from '../../harness/runner/context.ts';
import { crashesAt, randomBursts } from './burst-models.ts';
import { BurstFailure, burstGuide, implicatedPress, processorPaceMs, queueFullBy, tightened } from '../../harness/runner/guided-shrink.ts';
import { isPrefixBurst, PropertyFailure, runProperty, type ReplayRecord } from '../../harness/runner/property.ts';

const BUTTONS = ['PUMP_ON', 'PUMP_OFF', 'EMERGENCY', 'LIGHT', 'FAN', 'ROD_UP', 'ROD_DOWN'];

/** Bursts of up to 200 presses of any button, 40–400 ms apart. */
const bursts = randomBursts(BUTTONS, 200);

/**
 * A panel with a stopping deadlock: PUMP_OFF after PUMP_ON stops the pump for 1 s, and EMERGENCY
 * while it is stopping hangs the processor. Presses after the hang are never handled. Returns the
 * index of the EMERGENCY press that hung it, if one did.
 */
function deadlocksAt(steps: readonly BurstStep[]): number | undefined {
  let running = false;
  let stoppingUntil = -Infinity;
  for (const [k, s] of steps.entries()) {
    if (s.button === 'PUMP_ON') running = true;
    else if (s.button === 'PUMP_OFF' && running) {
      running = false;
      stoppingUntil = s.atMs + 1000;
    } else if (s.button === 'EMERGENCY' && s.atMs < stoppingUntil) return k;
  }
  return undefined;
}

/** A queue of 100 drained one event per 9 ms: the press that finds it full, if one does. */
function overflowsAt(steps: readonly BurstStep[]): number | undefined {
  let depth = 0;
  let t = 0;
  for (const [k, s] of steps.entries()) {
    depth = Math.max(0, depth - (s.atMs - t) / 9);
    t = s.atMs;
    if (++depth > 100) return k;
  }
  return undefined;
}

/** Dense runs round four channels, 2.5 ms apart: the shape of a queue-filling burst. */
const denseRuns = fc
  .record({ order: fc.shuffledSubarray(['A', 'B', 'C', 'D'], { minLength: 4 }), count: fc.integer({ min: 1, max: 300 }) })
  .map(({ order, count }): BurstStep[] => Array.from({ length: count }, (_, k) => ({ button: order[k % order.length]!, atMs: 2.5 * k, holdMs: 30 })));

/** The property on the model: candidates run (the bench time), and the counterexample's presses. */
async function shrink(seed: number, guided: boolean, failsAt = deadlocksAt, arb: fc.Arbitrary<BurstStep[]> = bursts, queueFull = false): Promise<{ runs: number; size: number; value: BurstStep[] }> {
  // Runs from the first failure on: the bench time shrinking took.
  let runs = 0;
  let failing = false;
  try {
    await withRun(new RunContext({ settings: { seed } }), () =>
      runProperty(
        'no deadlock',
        arb,
        (steps) => {
          const k = failsAt(steps);
          failing ||= k !== undefined;
          if (failing) runs++;
          // The invariants point at the first press never handled: the EMERGENCY that hung it.
          if (k !== undefined) return Promise.reject(new BurstFailure(`processor hung at press ${k}`, k, 'heartbeat', { queueFull, hung: !queueFull }));
          return Promise.resolve();
        },
        { defaultRuns: 2000, defaultBudgetMs: 60_000, covers: isPrefixBurst, ...(guided ? { guide: burstGuide() } : {}) },
      ),
    );
  } catch (e) {
    expect(e).to.be.instanceOf(PropertyFailure);
    const value = JSON.parse(/counterexample: (.*)/.exec((e as Error).message)![1]!) as BurstStep[];
    return { runs, size: value.length, value };
  }
  throw new Error('the property did not fail');
}

/** The simulated bench's limits: a relay board at 400 presses/s, 30 ms hold and gap. */
const LIMITS = { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 400 };

/**
 * A panel whose STOP empties its queue while the reactor runs (the gpiozero panel's
 * stop-flushes-queue): presses arrive when pressed, one processor takes them in order and spends
 * 9 ms on each. Returns the index of the first press lost, if one was.
 */
function flushLossAt(steps: readonly BurstStep[]): number | undefined {
  let free = 0;
  let running = false;
  const queue: number[] = [];
  let i = 0;
  for (;;) {
    const head = queue[0];
    const takeAt = head === undefined ? Infinity : Math.max(free, steps[head]!.atMs);
    if (head !== undefined && (i >= steps.length || takeAt <= steps[i]!.atMs)) {
      queue.shift();
      const b = steps[head]!.button;
      if (b === 'START') running = true;
      else if (b === 'STOP' && running) {
        running = false;
        if (queue.length > 0) return queue[0];
      }
      free = takeAt + 9;
    } else if (i < steps.length) queue.push(i++);
    else return undefined;
  }
}

/**
 * Bursts of up to 14 buttons, each pressed once, 2.5–7.5 ms apart (as the bursts that met the
 * panel's stop-flushes-queue on the bench): a processor at 9 ms an event falls behind. A button
 * pressed again would wait for its relay's release and gap, and presses drawn together could not
 * include it.
 */
const queueingBursts = fc
  .uniqueArray(fc.record({ button: fc.constantFrom('START', 'STOP', ...'ABCDEFGHIJKL'), gap: fc.constantFrom(2.5, 5, 7.5) }), { selector: (r) => r.button, minLength: 1, maxLength: 14 })
  .map((raw): BurstStep[] => {
    let t = -raw[0]!.gap;
    return raw.map(({ button, gap }) => ({ button, atMs: (t += gap), holdMs: 30 }));
  });

describe('guided shrinking', function () {
  this.timeout(60_000);

  it('shrinks a three-press state-dependent bug to its three presses, in fewer bench runs than blind shrinking', async function () {
    let guidedRuns = 0;
    let blindRuns = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const g = await shrink(seed, true);
      const b = await shrink(seed, false);
      expect(g.size, `seed ${seed}: ${JSON.stringify(g.value)}`).to.equal(3);
      expect(g.value.map((s) => s.button), `seed ${seed}`).to.deep.equal(['PUMP_ON', 'PUMP_OFF', 'EMERGENCY']);
      expect(deadlocksAt(g.value), 'the counterexample fails').to.not.equal(undefined);
      expect(g.value[0]!.atMs, 'a guided candidate starts at once').to.equal(0);
      guidedRuns += g.runs;
      blindRuns += b.runs;
    }
    expect(guidedRuns, `shrinking: guided ${guidedRuns} runs, blind ${blindRuns}`).to.be.below(blindRuns / 2);
  });

  it('shrinks a bug whose cause lies far back in the burst to the two presses it needs, in fewer bench runs than blind shrinking', async function () {
    let guidedRuns = 0;
    let blindRuns = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const g = await shrink(seed, true, crashesAt);
      guidedRuns += g.runs;
      blindRuns += (await shrink(seed, false, crashesAt)).runs;
      expect(g.value.map((s) => s.button), `seed ${seed}: ${JSON.stringify(g.value)}`).to.deep.equal(['PUMP_ON', 'ROD_DOWN']);
    }
    expect(guidedRuns, `shrinking: guided ${guidedRuns} runs, blind ${blindRuns}`).to.be.below(blindRuns / 2);
  });

  it('takes a long guided candidate whose cause starts at its first press apart too: two presses 60–120 presses apart shrink to those two', async function () {
    // Before, a guided candidate of more than 48 presses was only cut from the front, and stayed at
    // 60+ presses here (PUMP_ON first, then the harmless presses up to ROD_DOWN).
    const filler = (min: number, max: number) => fc.array(fc.constantFrom('LIGHT', 'FAN'), { minLength: min, maxLength: max });
    const farApart = fc.tuple(filler(0, 10), filler(60, 120), filler(0, 20)).map(([before, gap, after]): BurstStep[] =>
      [...before, 'PUMP_ON', ...gap, 'ROD_DOWN', ...after].map((button, k) => ({ button, atMs: 50 * k, holdMs: 30 })),
    );
    let guidedRuns = 0;
    let blindRuns = 0;
    for (const seed of [1, 2, 3]) {
      const g = await shrink(seed, true, crashesAt, farApart);
      expect(g.value.map((s) => s.button), `seed ${seed}: ${g.size} presses`).to.deep.equal(['PUMP_ON', 'ROD_DOWN']);
      guidedRuns += g.runs;
      blindRuns += (await shrink(seed, false, crashesAt, farApart)).runs;
    }
    expect(guidedRuns, `shrinking: guided ${guidedRuns} runs, blind ${blindRuns}`).to.be.at.most(blindRuns);
  });

  it('costs a bug that needs a full queue no more bench runs than blind shrinking, and finds as small a burst', async function () {
    let guidedRuns = 0;
    let blindRuns = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const g = await shrink(seed, true, overflowsAt, denseRuns, true);
      const b = await shrink(seed, false, overflowsAt, denseRuns, true);
      expect(overflowsAt(g.value), 'the counterexample fails').to.not.equal(undefined);
      expect(g.size, `seed ${seed}`).to.be.at.most(b.size);
      guidedRuns += g.runs;
      blindRuns += b.runs;
    }
    expect(guidedRuns, `shrinking: guided ${guidedRuns} runs, blind ${blindRuns}`).to.be.at.most(blindRuns);
  });

  it('points at the first press the device did not handle, a press a violation names, or the last press before the first violation', function () {
    const row = (i: number, outcome: PressRow['outcome']): PressRow => ({ press_id: 100 + i, device: 'pi', button: 'B', gpio: 1, press_t: BigInt(i * 1000), events: 1, outcome });
    const v = (t: number, pressId?: number, kind: Violation['kind'] = 'firmware'): Violation => ({ invariant: 'exactly-once', device: 'pi', t: BigInt(t), detail: '', kind, at: 0, key: String(t), ...(pressId !== undefined ? { pressId } : {}) });
    const w = (presses: PressRow[], violations: Violation[]) => ({ presses, violations }) as unknown as WindowResult;
    const healthy = [0, 1, 2, 3, 4].map((i) => row(i, i === 3 ? 'dropped' : 'processed'));
    expect(implicatedPress(w(healthy, []))).to.equal(undefined);
    expect(implicatedPress(w(healthy, [v(9_999_999, 102)]))).to.equal(2);
    expect(implicatedPress(w(healthy, [v(1_500)]))).to.equal(1);
    const hung = [0, 1, 2, 3, 4].map((i) => row(i, i < 2 ? 'processed' : 'pending'));
    expect(implicatedPress(w(hung, [v(9_999_999)]))).to.equal(2);
    // A press the bench performed short (its missing edge is the bench's) says nothing of the firmware's failure.
    const short = [0, 1, 2, 3, 4].map((i) => row(i, i === 1 ? 'lost' : i < 3 ? 'processed' : 'pending'));
    expect(implicatedPress(w(short, [v(1_200, 101, 'rig'), v(9_999_999)]))).to.equal(3);
    expect(implicatedPress(w(healthy, [v(1_200, 101, 'rig')]))).to.equal(undefined);
  });

  it('says the queue was full only when it was by the press the failure points at, not when a stopped device filled it later', function () {
    const row = (i: number, depth?: number): PressRow => ({ press_id: i, device: 'pi', button: 'B', gpio: 1, press_t: BigInt(i), events: 1, outcome: 'processed', ...(depth !== undefined ? { depth } : {}) });
    const w = (presses: PressRow[], capacity?: number) => ({ presses, stats: [{ device: 'pi', queue_capacity: capacity }] }) as unknown as WindowResult;
    const filling = [row(0, 99), row(1, 100), row(2, 100)];
    expect(queueFullBy(w(filling, 100), 0)).to.equal(false);
    expect(queueFullBy(w(filling, 100), 1)).to.equal(true);
    expect(queueFullBy(w(filling, 100), undefined)).to.equal(false);
    // No capacity declared, or no depth printed: nothing says it was full.
    expect(queueFullBy(w(filling), 2)).to.equal(false);
    expect(queueFullBy(w([row(0), row(1)], 100), 1)).to.equal(false);
  });

  it('does not try a press or three alone while the queue was full by the failing press, unless the device stopped', function () {
    const steps: BurstStep[] = Array.from({ length: 8 }, (_, k) => ({ button: BUTTONS[k % BUTTONS.length]!, atMs: 2.5 * k, holdMs: 30 }));
    const sizes = (f: BurstFailure, g = burstGuide()) => [...g.fromFailure(steps, f)].map((c) => c.length);
    // Over its bound at press 5: only the presses up to it, which fill it again.
    const g = burstGuide();
    expect(sizes(new BurstFailure('over', 5, 'queue-bound', { queueFull: true }), g)).to.deep.equal([6]);
    // The same invariant later failing with the queue not full: now the windows run.
    expect(sizes(new BurstFailure('over', 5, 'queue-bound', { queueFull: false }), g)).to.deep.equal([1, 2, 3, 6]);
    // A stop fills the queue after its cause: the windows run.
    expect(sizes(new BurstFailure('hung', 5, 'heartbeat', { queueFull: true, hung: true }))).to.deep.equal([1, 2, 3, 6]);
  });

  it('after a hang that followed refusals, tries the presses up to the failing one without the refused ones, which never reached the processor', function () {
    const steps: BurstStep[] = ['PUMP_ON', 'FAN', 'LIGHT', 'ROD_UP', 'EMERGENCY', 'FAN'].map((button, k) => ({ button, atMs: 2.5 * k, holdMs: 30 }));
    const buttons = (c: BurstStep[]) => c.map((x) => x.button);
    const hung = [...burstGuide().fromFailure(steps, new BurstFailure('hung', 4, 'heartbeat', { hung: true, refused: [1, 2, 5] }))];
    expect(hung.map(buttons)).to.deep.include(['PUMP_ON', 'ROD_UP', 'EMERGENCY']);
    const without = hung.find((c) => c.length === 3 && c[0]!.button === 'PUMP_ON')!;
    expect(without.map((x) => x.atMs), 'each at its own time').to.deep.equal([0, 7.5, 10]);
    // A failure that is not a stop (a queue overflow, a lost event) may need the refusals: no such candidate.
    const fail = [...burstGuide().fromFailure(steps, new BurstFailure('lost', 4, 'exactly-once', { refused: [1, 2] }))];
    expect(fail.map(buttons)).to.not.deep.include(['PUMP_ON', 'ROD_UP', 'EMERGENCY']);

    // fromWindow reads those facts off the window.
    const row = (i: number, outcome: PressRow['outcome'], depth: number): PressRow => ({ press_id: i, device: 'pi', button: 'B', gpio: 1, press_t: BigInt(i * 1000), events: 1, outcome, depth });
    const presses = [row(0, 'processed', 1), row(1, 'dropped', 3), row(2, 'dropped', 3), row(3, 'processed', 3), row(4, 'pending', 2)];
    const violations: Violation[] = [{ invariant: 'heartbeat', device: 'pi', t: 9_000n, detail: '', kind: 'hung', at: 0, key: 'k' }];
    const f = BurstFailure.fromWindow('hung', { presses, violations, stats: [{ device: 'pi', queue_capacity: 3 }] } as unknown as WindowResult);
    expect([f.pressIndex, f.invariant, f.facts]).to.deep.equal([4, 'heartbeat', { queueFull: true, hung: true, refused: [1, 2] }]);
  });

  it("after a hang that followed refusals, first tries those presses spaced at the processor's pace, so that none is refused again", function () {
    // 12 presses 2.5 ms apart; the device took one every 4 ms while they waited, refused 4, 6, 8
    // and stopped at 10.
    const steps: BurstStep[] = Array.from({ length: 12 }, (_, k) => ({ button: BUTTONS[k % BUTTONS.length]!, atMs: 2.5 * k, holdMs: 30 }));
    const refused = [4, 6, 8];
    let t = 1000;
    const presses: PressRow[] = steps.map((_, i) => {
      const row: PressRow = { press_id: i, device: 'pi', button: 'B', gpio: 1, press_t: BigInt(i * 2_500_000), events: 1, outcome: refused.includes(i) ? 'dropped' : i < 10 ? 'processed' : 'pending', queued_us: 2500 * i + 100, depth: 3 };
      if (!refused.includes(i) && i <= 10) row.taken_us = t += 4000;
      return row;
    });
    const violations: Violation[] = [{ invariant: 'heartbeat', device: 'pi', t: 90_000_000n, detail: '', kind: 'hung', at: 0, key: 'k' }];
    const w = { presses, violations, stats: [{ device: 'pi', queue_capacity: 3 }] } as unknown as WindowResult;
    expect(processorPaceMs(w, 10)).to.equal(4);
    const f = BurstFailure.fromWindow('hung', w);
    expect([f.pressIndex, f.facts.paceMs]).to.deep.equal([10, 4]);
    const cands = burstGuide().fromFailure(steps, f);
    const without = [0, 1, 2, 3, 5, 7, 9, 10].map((i) => steps[i]!.button);
    // The first of them is the take order, 25 ms apart (see the next test); then these two.
    const [, pacedCand, plain] = cands.filter((c) => c.length === without.length && c.every((s, i) => s.button === without[i]));
    // Every gap at least 1.5 × 4 ms; the plain one keeps the presses' own times after it.
    expect(pacedCand!.map((s) => s.atMs)).to.deep.equal([0, 6, 12, 18, 24, 30, 36, 42]);
    expect(plain!.map((s) => s.atMs)).to.deep.equal([0, 2.5, 5, 7.5, 12.5, 17.5, 22.5, 25]);
    expect(cands.indexOf(pacedCand!)).to.be.lessThan(cands.indexOf(plain!));
    // A gap already wider than the pace stays as it was; the later presses move with it.
    const wide = burstGuide().fromFailure([...steps.slice(0, 5), ...steps.slice(5).map((s) => ({ ...s, atMs: s.atMs + 100 }))], f);
    expect(wide.filter((c) => c.length === 8)[1]!.map((s) => s.atMs)).to.deep.equal([0, 6, 12, 18, 123, 129, 135, 141]);

    // Queue times missing: the takes' own intervals. Fewer than three intervals: nothing said.
    const noQueue = presses.map(({ queued_us: _, ...p }) => p);
    expect(processorPaceMs({ ...w, presses: noQueue }, 10)).to.equal(4);
    expect(processorPaceMs(w, 2)).to.equal(undefined);
  });

  it('after a hang, tries the presses the device took, in the order it took them, far enough apart that the relays cannot swap two', function () {
    // REACTOR_START, REACTOR_STOP 2.5 ms later, then PUMP_A_ON: the device took the pump before the
    // stop (the relays closed them in that order), and stopped at PUMP_B_ON.
    const steps: BurstStep[] = ['REACTOR_START', 'REACTOR_STOP', 'PUMP_A_ON', 'LIGHT', 'PUMP_B_ON', 'FAN'].map((button, k) => ({ button, atMs: 2.5 * k, holdMs: 30 }));
    const taken = [1000, 1400, 1200, undefined, 1600];
    const presses: PressRow[] = steps.map((s, i) => ({
      press_id: i,
      device: 'pi',
      button: s.button,
      gpio: 1,
      press_t: BigInt(i * 2_500_000),
      events: 1,
      outcome: i < 4 ? 'processed' : 'pending',
      ...(taken[i] !== undefined ? { taken_us: taken[i] } : {}),
    }));
    const violations: Violation[] = [{ invariant: 'heartbeat', device: 'pi', t: 90_000_000n, detail: '', kind: 'hung', at: 0, key: 'k' }];
    const w = { presses, violations, stats: [{ device: 'pi', queue_capacity: 100 }] } as unknown as WindowResult;
    const f = BurstFailure.fromWindow('hung', w);
    // LIGHT has no take printed: left out; the failing press last.
    expect([f.pressIndex, f.facts.takenOrder]).to.deep.equal([4, [0, 2, 1, 4]]);
    const cand = burstGuide()
      .fromFailure(steps, f)
      .find((c) => c.length === 4 && c[1]!.button === 'PUMP_A_ON')!;
    expect(cand.map((s) => `${s.button}@${s.atMs}`)).to.deep.equal(['REACTOR_START@0', 'PUMP_A_ON@25', 'REACTOR_STOP@50', 'PUMP_B_ON@75']);
    // A button pressed twice keeps at least the distance the rig performed between its presses.
    const twice: BurstStep[] = [{ button: 'A', atMs: 0, holdMs: 30 }, { button: 'B', atMs: 2.5, holdMs: 30 }, { button: 'A', atMs: 80, holdMs: 30 }];
    const again = burstGuide().fromFailure(twice, new BurstFailure('hung', 2, 'heartbeat', { hung: true, takenOrder: [0, 1, 2] }));
    const ordered = again.find((c) => c.length === 3 && c[1]!.atMs === 25)!;
    expect(ordered.map((s) => s.atMs)).to.deep.equal([0, 25, 80]);
    // A value already in the device's order and spacing is not offered again: answered from its
    // own run, it would fail again, and shrinking would go round on it (805,747 times in 105 s).
    const f2 = new BurstFailure('hung', 3, 'heartbeat', { hung: true, takenOrder: [0, 1, 2, 3] });
    expect(burstGuide().fromFailure(cand, f2).map((c) => JSON.stringify(c))).to.not.include(JSON.stringify(cand));
    // A crash whose death line came first is a stop too: the same facts.
    const died = BurstFailure.fromWindow('died', { ...w, violations: [{ invariant: 'death-pattern', device: 'pi', t: 90_000_000n, detail: 'Traceback', kind: 'firmware', at: 0, key: 'd' }] });
    expect([died.facts.hung, died.facts.takenOrder]).to.deep.equal([true, [0, 2, 1, 4]]);
    // Not for a failure that is not a stop: its order is the burst's to keep.
    const fail = burstGuide().fromFailure(steps, new BurstFailure('lost', 4, 'exactly-once', { takenOrder: [0, 2, 1, 4] }));
    expect(fail.some((c) => c.length === 4 && c[1]!.button === 'PUMP_A_ON')).to.equal(false);
  });

  it('tries a small candidate of a failure the device lived through with its presses drawn together too: a press lost behind a STOP that empties the queue shrinks to its 3 presses', async function () {
    const lossShrink = async (seed: number, limits?: typeof LIMITS): Promise<BurstStep[]> => {
      try {
        await withRun(new RunContext({ settings: { seed } }), () =>
          runProperty(
            'nothing lost',
            queueingBursts,
            (steps) => {
              const k = flushLossAt(steps);
              return k === undefined ? Promise.resolve() : Promise.reject(new BurstFailure(`press ${k} lost`, k, 'exactly-once'));
            },
            { defaultRuns: 2000, defaultBudgetMs: 60_000, covers: isPrefixBurst, guide: burstGuide(limits ? { limits } : {}) },
          ),
        );
      } catch (e) {
        return JSON.parse(/counterexample: (.*)/.exec((e as Error).message)![1]!) as BurstStep[];
      }
      throw new Error('the property did not fail');
    };
    const without: number[] = [];
    for (const seed of Array.from({ length: 12 }, (_, i) => i + 1)) {
      const v = await lossShrink(seed, LIMITS);
      expect(flushLossAt(v), 'the counterexample fails').to.not.equal(undefined);
      expect(v.map((x) => x.button).slice(0, 2), `seed ${seed}: ${JSON.stringify(v)}`).to.deep.equal(['START', 'STOP']);
      expect(v.length, `seed ${seed}: ${JSON.stringify(v)}`).to.equal(3);
      without.push((await lossShrink(seed)).length);
    }
    // At their own spacing, with the presses that kept the processor busy removed, the three reach
    // it one by one: shrinking stops at a larger burst.
    expect(Math.max(...without), `sizes without the limits: ${without.join(', ')}`).to.be.above(3);
  });

  it('draws presses together to the rig\'s rate period, never closer than a channel\'s release + gap, and only where they were further apart', function () {
    const steps: BurstStep[] = [
      { button: 'A', atMs: 0, holdMs: 30 },
      { button: 'B', atMs: 40, holdMs: 30 },
      { button: 'C', atMs: 41, holdMs: 30 },
      { button: 'A', atMs: 100, holdMs: 30 },
    ];
    // B: 2.5 ms after A; C: 1 ms after B (closer already); A again: not before its release at 30 + 30.
    expect(tightened(steps, LIMITS).map((x) => x.atMs)).to.deep.equal([0, 2.5, 3.5, 60]);
    // A slow board (15 presses/s): its own period, 66.667 ms, on the plan's 1 µs grid.
    expect(tightened(steps.slice(0, 2), { ...LIMITS, maxPressesPerSec: 15 }).map((x) => x.atMs)).to.deep.equal([0, 40]);
    const three = steps.slice(0, 3).map((x, k) => ({ ...x, atMs: 100 * k }));
    expect(tightened(three, { ...LIMITS, maxPressesPerSec: 15 }).map((x) => x.atMs)).to.deep.equal([0, 66.667, 133.334]);
  });

  it('draws a window together only with the rig\'s limits, and never after a stop (a deadlock needs its states in order)', function () {
    const steps: BurstStep[] = ['A', 'START', 'STOP', 'X'].map((button, k) => ({ button, atMs: [0, 2.5, 7.5, 10][k]!, holdMs: 30 }));
    const lost = new BurstFailure('lost', 3, 'exactly-once');
    const times = (cs: BurstStep[][]) => cs.map((c) => c.map((x) => x.atMs));
    expect(times(burstGuide().fromFailure(steps, lost))).to.deep.equal([[0], [0, 2.5], [0, 5, 7.5]]);
    expect(times(burstGuide({ limits: LIMITS }).fromFailure(steps, lost))).to.deep.equal([[0], [0, 2.5], [0, 5, 7.5], [0, 2.5, 5]]);
    const hung = new BurstFailure('hung', 3, 'heartbeat', { hung: true });
    expect(times(burstGuide({ limits: LIMITS }).fromFailure(steps, hung))).to.deep.equal([[0], [0, 2.5], [0, 5, 7.5]]);
  });

  it('after a hang, drops half the presses in front first: a cause in the last few of a long candidate costs few failing runs, each shorter', async function () {
    // 203 presses 25 ms apart, LIGHT and FAN but for the deadlock's PUMP_ON (190), PUMP_OFF (200)
    // and EMERGENCY (202): the windows before the EMERGENCY miss the PUMP_ON.
    const cause: Record<number, string> = { 190: 'PUMP_ON', 200: 'PUMP_OFF', 202: 'EMERGENCY' };
    const long: BurstStep[] = Array.from({ length: 203 }, (_, k) => ({ button: cause[k] ?? (k % 2 ? 'FAN' : 'LIGHT'), atMs: 25 * k, holdMs: 30 }));
    const failingSizes: number[] = [];
    let shrinking = false;
    let shrunk: string[] | undefined;
    try {
      await withRun(new RunContext({ settings: { seed: 1 } }), () =>
        runProperty(
          'no deadlock',
          fc.constant(long),
          (steps) => {
            const k = deadlocksAt(steps);
            if (shrinking && k !== undefined) failingSizes.push(steps.length);
            shrinking = true;
            return k === undefined ? Promise.resolve() : Promise.reject(new BurstFailure('hung', k, 'heartbeat', { hung: true }));
          },
          { defaultRuns: 1, defaultBudgetMs: 60_000, covers: isPrefixBurst, guide: burstGuide() },
        ),
      );
    } catch (e) {
      shrunk = (JSON.parse(/counterexample: (.*)/.exec((e as Error).message)![1]!) as BurstStep[]).map((x) => x.button);
    }
    expect(shrunk).to.deep.equal(['PUMP_ON', 'PUMP_OFF', 'EMERGENCY']);
    // Galloping from one press it took 18 failing runs (202, 200, 196, 188, 172, 140, 76, 38, 19 …),
    // six of them over 100 presses; half first, 9 (102, 51, 26, 13 …).
    expect(failingSizes.filter((n) => n > 100), `failing runs while shrinking: ${failingSizes.join(', ')}`).to.have.length.at.most(1);
    expect(failingSizes.length, `failing runs while shrinking: ${failingSizes.join(', ')}`).to.be.at.most(10);
  });

  it('a candidate the guide made is replayed as the value itself: the replay file keeps it', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-guided-'));
    try {
      const run = new RunContext({ settings: { seed: 3 }, replayDir: dir });
      const scope = { title: 'bursts no deadlock', suite: 'bursts', name: 'no deadlock', scenario: '40-bursts.spec.ts', specFile: 'scenarios/40-bursts.spec.ts', ended: false };
      const reported = await withRun(run, () => run.scopes.run(scope, async () => {
        try {
          await runProperty('no deadlock', bursts, (steps) => (deadlocksAt(steps) !== undefined ? Promise.reject(new BurstFailure('hung', deadlocksAt(steps), 'heartbeat')) : Promise.resolve()), {
            defaultRuns: 2000,
            defaultBudgetMs: 60_000,
            guide: burstGuide(),
          });
        } catch (e) {
          return e as PropertyFailure;
        }
        throw new Error('the property did not fail');
      }));
      const files = fs.readdirSync(path.join(dir, 'replay'));
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'replay', files[0]!), 'utf8')) as ReplayRecord;
      expect(rec.value).to.deep.equal(JSON.parse(/counterexample: (.*)/.exec(reported.message)![1]!));
      // Seed and path alone do not rebuild it (the guide's candidates came from the failures).
      const ran: BurstStep[][] = [];
      await withRun(new RunContext({ replay: { seed: rec.seed, path: rec.path, value: rec.value } }), async () => {
        await runProperty('no deadlock', bursts, (steps) => (ran.push(steps), Promise.reject(new Error('still hangs'))), { defaultRuns: 2000, defaultBudgetMs: 60_000, guide: burstGuide() }).catch(() => undefined);
      });
      expect(ran).to.deep.equal([rec.value]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
