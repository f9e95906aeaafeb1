/** The actuation contract on the simulated bench's two relay boards (active-low and active-high). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { buildBoards } from '../../harness/parts/assemble.ts';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';
import { startSimBench } from '../../harness/sim/sim-process.ts';
import rig from '../../rigs/sim-bench.ts';
import { actuationContract, type Channel } from './actuation-contract.ts';

describe('actuation contract: simulated bench boards', function () {
  this.timeout(30_000);
  actuationContract(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-contract-'));
    const truth = path.join(dir, 'truth.jsonl');
    const sim = await startSimBench({ groundTruthPath: truth });
    const log = new ObservationLog();
    // The rig's two boards, built as a run builds them (harness/parts), each owning what the rig
    // wires to it; a short version-report wait, as the sim's boards are already up.
    const fast = { ...rig, boards: Object.fromEntries(Object.entries(rig.boards).map(([n, b]) => [n, { ...b, reportVersionTimeoutMs: 200 }])) };
    const boards = new Map(buildBoards(fast, { log, port: (name) => ({ path: sim.description.ports[name]! }) }).map((b) => [b.name, b.board]));
    const boardA = boards.get('relays-a')!;
    const boardB = boards.get('relays-b')!;
    await Promise.all([boardA.open(), boardB.open()]);
    // Two buttons on the active-low board, the Pi's power relay on the active-high one.
    const a = [rig.buttons.PRESSURE_UP!, rig.buttons.PRESSURE_DOWN!];
    const b = rig.power.pi!;
    // The sim's ground truth names each coil `<board>:<channel label>`.
    const coil = new Map<Channel, string>();
    const channels: Channel[] = [
      { name: 'relays-a:PRESSURE_UP', out: boardA.output(a[0]!.pin), activeLow: true },
      { name: 'relays-a:PRESSURE_DOWN', out: boardA.output(a[1]!.pin), activeLow: true },
      { name: 'relays-b:power-pi', out: boardB.output(b.pin), activeLow: false },
    ];
    for (const c of channels) coil.set(c, c.name);
    return {
      log,
      channels,
      limits: rig.limits,
      withinMs: 2000,
      changes: (ch, since) =>
        readGroundTruth(truth)
          .filter((r) => r.kind === 'coil' && r.src === coil.get(ch) && r.t >= since)
          .map((r) => ({ energised: r.on === true, hostNs: r.t })),
      close: async () => {
        await Promise.all([boardA.close(), boardB.close()]);
      },
      dispose: async () => {
        await sim.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});
