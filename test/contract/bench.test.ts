/**
 * The actuation contract on a real bench, seen the only way a bench shows it: the device's own
 * GPIO edges on its console. Pending (not skipped) unless a bench is configured:
 *
 *   HIL_BENCH_RIG=rigs/my-bench.ts [HIL_BENCH_BUTTON=PRESSURE_UP] npx mocha test/contract/bench.test.ts
 *
 * Every channel is that one button's relay (pick one that is harmless to press). With
 * HIL_BENCH_RIG=sim-bench the same code runs on the simulated bench, through its consoles.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readyExpectation } from '../../harness/core/ready.ts';
import { loadRig } from '../../harness/rig/load.ts';
import { RigSession } from '../../harness/runner/session.ts';
import { actuationContract } from './actuation-contract.ts';

const rigName = process.env.HIL_BENCH_RIG;

describe('actuation contract: real bench (device GPIO edges)', function () {
  this.timeout(60_000);
  if (!rigName) {
    it('needs a bench: set HIL_BENCH_RIG to a rig file (and HIL_BENCH_BUTTON to a harmless button)');
    return;
  }
  actuationContract(async () => {
    const { rig } = await loadRig(rigName);
    const button = process.env.HIL_BENCH_BUTTON ?? Object.keys(rig.buttons)[0]!;
    const spec = rig.buttons[button];
    if (!spec) throw new Error(`HIL_BENCH_BUTTON=${button}: no such button on ${rig.name}`);
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-bench-contract-'));
    const s = await RigSession.open(rig, { outDir });
    await s.log.waitFor(readyExpectation(spec.device, rig.devices[spec.device]?.ready), { within: (rig.power[spec.device]?.bootMs ?? 10_000) + 5000, from: 0 });
    const board = s.boards.get(spec.board)!;
    return {
      log: s.log,
      channels: [{ name: button, out: board.output(spec.pin), activeLow: spec.activeLow }],
      limits: rig.limits,
      withinMs: 3000,
      changes: (_ch, since) =>
        [...s.log.since(0)]
          .filter((o) => o.source === spec.device && o.kind === 'edge' && Number(o.fields?.pin) === spec.gpio && o.t >= since)
          .map((o) => ({ energised: Number(o.fields?.level) === 0, hostNs: o.t })),
      close: async () => {
        for (const b of s.boards.values()) await b.close();
      },
      dispose: async () => {
        await s.close();
        fs.rmSync(outDir, { recursive: true, force: true });
      },
    };
  });
});
