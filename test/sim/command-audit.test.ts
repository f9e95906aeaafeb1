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
  const audit = () => new CommandSpacingAudit('relays-a', { minHoldMs: 30, minGapMs: 40 }, new Set(['PRESSURE_UP']));

  /** An audit that has seen the channel released by a command: the next ON starts a press. */
  const released = () => {
    const a = audit();
    a.coil('PRESSURE_UP', false, 1, ms(0));
    return a;
  };

  it('a hold or a gap within the limits (less the 1 ms timer slack) is what the harness sent: nothing to say', function () {
    const a = released();
    expect(a.coil('PRESSURE_UP', true, 0, ms(1000))).to.equal(undefined);
    expect(a.coil('PRESSURE_UP', false, 1, ms(1029.1))).to.equal(undefined);
    expect(a.coil('PRESSURE_UP', true, 0, ms(1068.2))).to.equal(undefined);
    expect(a.coil('PRESSURE_UP', false, 1, ms(1200))).to.equal(undefined);
  });

  it('a hold shorter than minHoldMs, or a re-press sooner than minGapMs, is named with what the board did', function () {
    const a = released();
    a.coil('PRESSURE_UP', true, 0, ms(1000));
    const hold = a.coil('PRESSURE_UP', false, 1, ms(1006.3));
    expect(hold).to.deep.include({ board: 'relays-a', button: 'PRESSURE_UP', what: 'hold', limitMs: 30, t: ms(1006.3) });
    expect(hold!.performedMs).to.be.closeTo(6.3, 1e-9);
    expect(describeShortCommand(hold!)).to.match(/^the simulated bench energised PRESSURE_UP's relay for 6\.3 ms, shorter than the rig's minHoldMs 30 ms; .*late.*not performed as commanded$/);
    const gap = a.coil('PRESSURE_UP', true, 0, ms(1010));
    expect(gap).to.deep.include({ what: 'gap', limitMs: 40 });
    expect(describeShortCommand(gap!)).to.match(/energised PRESSURE_UP's relay again 3\.7 ms after releasing it, sooner than the rig's minGapMs 40 ms/);
  });

  it('judges only button channels, and not a change nobody commanded (a floating input: board reset, power loss)', function () {
    const a = released();
    a.coil('power-pi', false, 1, ms(999));
    a.coil('power-pi', true, 0, ms(1000));
    expect(a.coil('power-pi', false, 1, ms(1001))).to.equal(undefined);
    a.coil('PRESSURE_UP', true, 0, ms(2000));
    expect(a.coil('PRESSURE_UP', false, null, ms(2002))).to.equal(undefined);
    // The next commanded press is not compared with the reset.
    expect(a.coil('PRESSURE_UP', true, 0, ms(2005))).to.equal(undefined);
  });

  it('a coil energised by the board\'s boot and released by the takeover is no press: neither it nor a press right after it is judged', function () {
    const a = audit();
    expect(a.coil('PRESSURE_UP', true, 0, ms(1000))).to.equal(undefined); // StandardFirmata's reset: pins LOW
    expect(a.coil('PRESSURE_UP', false, 1, ms(1010))).to.equal(undefined); // the harness takes the board over
    expect(a.coil('PRESSURE_UP', true, 0, ms(1012))).to.equal(undefined); // and presses at once
    // That press is judged as any other.
    expect(a.coil('PRESSURE_UP', false, 1, ms(1015))).to.deep.include({ what: 'hold' });
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

  it('through its stdout to the handle and in the ground truth; a press within the limits is not reported', async function () {
    // Straight to the board's output, below the presser, which would refuse it: ON and OFF written
    // back to back, what a link that held the ON back and not the OFF delivers. (Written together,
    // they also reach the sim together, however late: the test does not depend on the PTY's timing.)
    const out = board.output(rig.buttons.PRESSURE_UP!.pin);
    await out.set(true);
    await out.set(false);
    // Then a press with 200 ms to spare on either limit: no host load delays one command that much
    // more than the other.
    await sleep(rig.limits.minGapMs + 200);
    await out.set(true);
    await sleep(rig.limits.minHoldMs + 200);
    await out.set(false);
    await sleep(400); // the event's pipe, and the ground truth's 100 ms flush
    const shorts = events.map((e) => e.shortCommand!);
    expect(shorts.map((s) => [s.board, s.button, s.what, s.limitMs])).to.deep.equal([['relays-a', 'PRESSURE_UP', 'hold', rig.limits.minHoldMs]]);
    expect(shorts[0]!.performedMs).to.be.below(rig.limits.minHoldMs - 1);
    expect(shorts[0]!.reason).to.match(/^the simulated bench energised PRESSURE_UP's relay for \d+\.\d ms, shorter than the rig's minHoldMs 30 ms/);
    const truth = readGroundTruth(sim.description.groundTruth).filter((r) => r.kind === 'short-command');
    expect(truth.map((r) => [r.src, r.what])).to.deep.equal([['relays-a:PRESSURE_UP', 'hold']]);
    expect(String(truth[0]!.t)).to.equal(shorts[0]!.t);
  });
});
