/**
 * The actuation contract on a Modbus RTU relay module: rigs/sim-modbus.ts's `relays-mb` (kind
 * `modbus-rtu`, unit 1, 9600 baud), built as a run builds it (harness/parts) and driven through
 * modbus-serial against the sim's slave on a PTY; the ground truth shows the coils.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { buildBoards } from '../../harness/parts/assemble.ts';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';
import { startSimBench } from '../../harness/sim/sim-process.ts';
import { simWiring } from '../../harness/sim/wiring.ts';
import rig from '../../rigs/sim-modbus.ts';
import { actuationContract, type Channel } from './actuation-contract.ts';

describe('actuation contract: simulated Modbus RTU relay module', function () {
  this.timeout(30_000);
  actuationContract(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-contract-mb-'));
    const truth = path.join(dir, 'truth.jsonl');
    const sim = await startSimBench({ groundTruthPath: truth, wiring: simWiring(rig) });
    const log = new ObservationLog();
    const built = buildBoards(rig, { log, port: (name) => ({ path: sim.description.ports[name]! }) });
    const board = built.find((b) => b.name === 'relays-mb')!.board;
    await board.open();
    const up = rig.buttons.PRESSURE_UP!;
    const down = rig.buttons.PRESSURE_DOWN!;
    const pi = rig.power.pi!;
    // The sim's ground truth names each coil `<board>:<channel label>`.
    const channels: Channel[] = [
      { name: 'relays-mb:PRESSURE_UP', out: board.output(up.pin), activeLow: up.activeLow },
      { name: 'relays-mb:PRESSURE_DOWN', out: board.output(down.pin), activeLow: down.activeLow },
      { name: 'relays-mb:power-pi', out: board.output(pi.pin), activeLow: pi.activeLow },
    ];
    return {
      log,
      channels,
      limits: rig.limits,
      withinMs: 2000,
      changes: (ch, since) =>
        readGroundTruth(truth)
          .filter((r) => r.kind === 'coil' && r.src === ch.name && r.t >= since)
          .map((r) => ({ energised: r.on === true, hostNs: r.t })),
      close: () => board.close(),
      dispose: async () => {
        await sim.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});
