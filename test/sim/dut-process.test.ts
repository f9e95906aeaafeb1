import assert from 'node:assert/strict';
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import { DutProcess } from '../../harness/sim/dut-process.ts';
import { SIM_PRIORITY } from '../../harness/sim/priority.ts';

/** The nice value of a process's autogroup, or undefined where the kernel has none. */
function autogroupNice(pid: number): number | undefined {
  try {
    const m = /nice (-?\d+)/.exec(fs.readFileSync(`/proc/${pid}/autogroup`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this process may raise a priority (root or CAP_SYS_NICE): tried on a throwaway child. */
async function mayRaisePriority(): Promise<boolean> {
  const probe = new DutProcess({ command: 'exec sleep 30', console: () => undefined, log: () => undefined, priority: null });
  await probe.powerOn();
  try {
    os.setPriority(probe.pid!, -1);
    return true;
  } catch {
    return false;
  } finally {
    await probe.powerOff();
  }
}

describe('sim: a firmware program is scheduled as a device', function () {
  this.timeout(10_000);

  it('ranks the program and its session ahead of the host, as the sim ranks itself', async function () {
    if (!(await mayRaisePriority())) this.skip(); // the OS does not allow it here: the program keeps the default
    const dut = new DutProcess({ command: 'exec sleep 30', console: () => undefined, log: () => undefined });
    await dut.powerOn();
    try {
      const pid = dut.pid!;
      assert.equal(os.getPriority(pid), SIM_PRIORITY);
      // Its own session starts a fresh autogroup at 0; under autogroup scheduling that is the rank that counts.
      if (autogroupNice(process.pid) !== undefined) assert.equal(autogroupNice(pid), SIM_PRIORITY);
    } finally {
      await dut.powerOff();
    }
  });

  it('leaves a program at the priority it inherits when asked to (priority: null)', async function () {
    const dut = new DutProcess({ command: 'exec sleep 30', console: () => undefined, log: () => undefined, priority: null });
    await dut.powerOn();
    try {
      const pid = dut.pid!;
      assert.equal(os.getPriority(pid), os.getPriority());
      if (autogroupNice(process.pid) !== undefined) assert.equal(autogroupNice(pid), 0);
    } finally {
      await dut.powerOff();
    }
  });
});

describe('sim: the gpio lines a firmware program is sent', function () {
  this.timeout(10_000);

  /** Run `cat` as the program (its stdin comes back as its console) and deliver one change. */
  async function lineFor(edgeTimes: boolean | undefined): Promise<{ line: string; t: bigint }> {
    let out = '';
    const dut = new DutProcess({ command: 'exec cat', console: (b) => (out += b.toString()), log: () => undefined, ...(edgeTimes !== undefined ? { edgeTimes } : {}) });
    await dut.powerOn();
    try {
      const t = process.hrtime.bigint() + 5_000_000n;
      dut.deliverGpio(17, 0, t);
      for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
      return { line: out, t };
    } finally {
      await dut.powerOff();
    }
  }

  it('are `gpio <bcm> <level>` by default, which every program understands', async function () {
    expect((await lineFor(undefined)).line).to.equal('gpio 17 0\n');
  });

  it('carry the contact time (CLOCK_MONOTONIC ns) with edgeTimes, written when the contact changes', async function () {
    const { line, t } = await lineFor(true);
    expect(line).to.equal(`gpio 17 0 ${t}\n`);
  });

  it('a line already low at the start is sent dated when it went low, so a release dated before the start comes after it', async function () {
    let out = '';
    const wentLow = process.hrtime.bigint() - 20_000_000n;
    const dut = new DutProcess({
      command: 'exec cat',
      console: (b) => (out += b.toString()),
      log: () => undefined,
      edgeTimes: true,
      initialLevels: () => new Map([[17, { level: 0, since: wentLow }], [27, { level: 1, since: 0n }]]),
    });
    await dut.powerOn();
    try {
      // The contact opened 10 ms after it closed, before the program started; the bench's timer
      // delivers that release only now.
      dut.deliverGpio(17, 1, wentLow + 10_000_000n);
      for (let i = 0; i < 100 && out.split('\n').length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(out).to.equal(`gpio 17 0 ${wentLow}\ngpio 17 1 ${wentLow + 10_000_000n}\n`);
    } finally {
      await dut.powerOff();
    }
  });
});
