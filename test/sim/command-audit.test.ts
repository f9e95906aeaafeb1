/**
 * The simulated bench says when it performed a press shorter than the harness can have commanded
 * it (its PTYs deliver late under host load; see harness/sim/command-audit.ts). The logic on given
 * times, then the whole path: commands written to a real PTY, the sim's relay board, its stdout
 * event, the handle's `onEvent`, and the ground truth.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { FirmataBoard } from '../../harness/hw/firmata-board.ts';
import { CommandSpacingAudit, describeShortCommand } from '../../harness/sim/command-audit.ts';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';
import { startSimBench, type SimBenchEvent, type SimBenchHandle } from '../../harness/sim/sim-process.ts';
import rig from '../../rigs/sim-bench.ts';

const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

describe('CommandSpacingAudit', function () {
  const LIMITS = { minHoldMs: 30, minGapMs: 40 };
  /** An audit of one active-low button channel, fed levels as a board's pin would (0: energised). */
  function channel(label = 'PRESSURE_UP') {
    const a = new CommandSpacingAudit('relays-a', LIMITS, new Set(['PRESSURE_UP']));
    let coil = false;
    return {
      set(level: 0 | 1 | null, atMs: number) {
        const on = level === 0;
        const changed = on !== coil;
        coil = on;
        return a.input(label, level, on, changed, ms(atMs));
      },
    };
  }
  /** A channel the harness has taken over (released): its next ON is a press. */
  const released = () => {
    const c = channel();
    c.set(1, 0);
    return c;
  };

  it('holds, gaps and press periods within the limits (less the 1 ms timer slack) are what the harness sent: nothing to say', function () {
    const c = released();
    expect(c.set(0, 1000)).to.equal(undefined);
    expect(c.set(1, 1029.1)).to.equal(undefined);
    expect(c.set(0, 1069.1)).to.equal(undefined); // gap 40, period 69.1
    expect(c.set(1, 1200)).to.equal(undefined);
  });

  it('a hold shorter than minHoldMs, a re-press sooner than minGapMs, or one sooner than minHoldMs + minGapMs after the last began, is named with the press it concerns', function () {
    const c = released();
    c.set(0, 1000);
    const hold = c.set(1, 1006.3);
    expect(hold).to.deep.include({ board: 'relays-a', button: 'PRESSURE_UP', press: 1, what: 'hold', limitMs: 30, t: ms(1006.3) });
    expect(hold!.performedMs).to.be.closeTo(6.3, 1e-9);
    expect(describeShortCommand(hold!)).to.match(/^the simulated bench energised PRESSURE_UP's relay for 6\.3 ms, shorter than the rig's minHoldMs 30 ms; .*late.*: press 1 of PRESSURE_UP was not performed as commanded$/);
    const gap = c.set(0, 1010);
    expect(gap).to.deep.include({ press: 2, what: 'gap', limitMs: 40 });
    expect(describeShortCommand(gap!)).to.match(/energised PRESSURE_UP's relay again 3\.7 ms after releasing it, sooner than the rig's minGapMs 40 ms/);
    // Press 2's ON came late, so it was short too; press 3 then comes a full gap after its release,
    // but only 51 ms after press 2 began: its contact's edges crowd press 2's (a debounce that
    // times from press 2's edge may drop it). That is reported against press 3.
    expect(c.set(1, 1015)).to.deep.include({ press: 2, what: 'hold' });
    const period = c.set(0, 1061);
    expect(period).to.deep.include({ press: 3, what: 'period', limitMs: 70 });
    expect(describeShortCommand(period!)).to.match(/again 51\.0 ms after its previous press began, sooner than the rig's minHoldMs \+ minGapMs \(70 ms\)/);
    // Press 3 itself was performed in full.
    expect(c.set(1, 1100)).to.equal(undefined);
  });

  it('the first press after one performed short is named too, however late it comes: a debounce may have eaten the short one\'s release', function () {
    const c = released();
    c.set(0, 1000);
    expect(c.set(1, 1007)).to.deep.include({ press: 1, what: 'hold' });
    const after = c.set(0, 6700);
    expect(after).to.deep.include({ press: 2, what: 'after' });
    expect(describeShortCommand(after!)).to.match(/^the simulated bench performed press 1 of PRESSURE_UP short \(.*late.*\); a debounce may take that press's release for bounce, and then press 2, 5700\.0 ms after it began, does not read as a new press$/);
    // Only that one: press 2 was performed in full, and press 3 is judged as any other.
    expect(c.set(1, 6740)).to.equal(undefined);
    expect(c.set(0, 6800)).to.equal(undefined);
  });

  it('judges only button channels, and not a change nobody commanded (a floating input: board reset, power loss)', function () {
    const power = new CommandSpacingAudit('relays-a', LIMITS, new Set(['PRESSURE_UP']));
    expect(power.input('power-pi', 0, true, true, ms(1000))).to.equal(undefined);
    expect(power.input('power-pi', 1, false, true, ms(1001))).to.equal(undefined);
    const c = released();
    c.set(0, 2000);
    expect(c.set(1, 2001)).to.deep.include({ press: 1, what: 'hold' });
    c.set(0, 2001.5); // press 2, soon after the short press 1 (reported as a gap)
    expect(c.set(null, 2002)).to.equal(undefined);
    // After the float, the boot's ON and the takeover's OFF are no press, and the next press
    // (press 3: the count goes on) is neither compared with them nor taken for the one after a
    // short press.
    expect(c.set(0, 2003)).to.equal(undefined);
    expect(c.set(1, 2005)).to.equal(undefined);
    expect(c.set(0, 2006)).to.equal(undefined);
    expect(c.set(1, 2010)).to.deep.include({ press: 3, what: 'hold' });
  });

  it('a coil energised by the board\'s boot and released by the takeover is no press: neither it nor a press right after it is judged, and presses count from the first real one', function () {
    const c = channel();
    expect(c.set(0, 1000)).to.equal(undefined); // StandardFirmata's reset: pins LOW
    expect(c.set(1, 1010)).to.equal(undefined); // the harness takes the board over
    expect(c.set(0, 1012)).to.equal(undefined); // and presses at once
    expect(c.set(1, 1015)).to.deep.include({ press: 1, what: 'hold' });
    // An active-high channel: the boot's LOW is already released.
    const high = new CommandSpacingAudit('relays-b', LIMITS, new Set(['VENT']));
    expect(high.input('VENT', 0, false, false, ms(1000))).to.equal(undefined);
    expect(high.input('VENT', 1, true, true, ms(1001))).to.equal(undefined);
    expect(high.input('VENT', 0, false, true, ms(1003))).to.deep.include({ press: 1, what: 'hold' });
  });
});

describe('the simulated bench reports a press it performed short', function () {
  this.timeout(60_000);
  let sim: SimBenchHandle;
  let dir: string;
  let board: FirmataBoard;
  const events: SimBenchEvent[] = [];

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-audit-'));
    sim = await startSimBench({ groundTruthPath: path.join(dir, 'truth.jsonl'), onEvent: (e) => events.push(e) });
    const buttons = Object.entries(rig.buttons).filter(([, b]) => b.board === 'relays-a');
    board = new FirmataBoard({
      name: 'relays-a',
      port: { path: sim.description.ports['relays-a']! },
      outputs: buttons.map(([name, b]) => ({ pin: b.pin, activeLow: b.activeLow, name })),
      reportVersionTimeoutMs: 200,
      log: new ObservationLog(),
    });
    await board.open();
  });

  after(async function () {
    await board?.close();
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('through its stdout to the handle and in the ground truth, with the press after it; a press within the limits after that is not reported', async function () {
    // Straight to the board's output, below the presser, which would refuse it: ON and OFF written
    // back to back, what a link that held the ON back and not the OFF delivers. (Written together,
    // they also reach the sim together, however late: the test does not depend on the PTY's timing.)
    const out = board.output(rig.buttons.PRESSURE_UP!.pin);
    await out.set(true);
    await out.set(false);
    // Then two presses with 200 ms to spare on every limit (no host load delays one command that
    // much more than another): the first is named as the one after a short press, the second not.
    for (let k = 0; k < 2; k++) {
      await sleep(rig.limits.minGapMs + 200);
      await out.set(true);
      await sleep(rig.limits.minHoldMs + 200);
      await out.set(false);
    }
    await sleep(400); // the event's pipe, and the ground truth's 100 ms flush
    const shorts = events.map((e) => e.shortCommand!);
    expect(shorts.map((s) => [s.board, s.button, s.press, s.what])).to.deep.equal([
      ['relays-a', 'PRESSURE_UP', 1, 'hold'],
      ['relays-a', 'PRESSURE_UP', 2, 'after'],
    ]);
    expect(shorts[0]!.limitMs).to.equal(rig.limits.minHoldMs);
    expect(shorts[0]!.performedMs).to.be.below(rig.limits.minHoldMs - 1);
    expect(shorts[0]!.reason).to.match(/^the simulated bench energised PRESSURE_UP's relay for \d+\.\d ms, shorter than the rig's minHoldMs 30 ms/);
    const truth = readGroundTruth(sim.description.groundTruth).filter((r) => r.kind === 'short-command');
    expect(truth.map((r) => [r.src, r.what, r.press])).to.deep.equal([
      ['relays-a:PRESSURE_UP', 'hold', 1],
      ['relays-a:PRESSURE_UP', 'after', 2],
    ]);
    expect(String(truth[0]!.t)).to.equal(shorts[0]!.t);
  });
});
