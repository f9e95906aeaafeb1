/**
 * The actuation contract on a Modbus RTU relay module: the sim's slave in the sim process, on a
 * PTY, driven by ModbusRelayBoard (modbus-serial). Two buttons and the Pi's power on one module,
 * wired into the simulated bench like any relay board; the ground truth shows the coils.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { ModbusRelayBoard } from '../../harness/hw/modbus-relay-board.ts';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';
import { startSimBench } from '../../harness/sim/sim-process.ts';
import { MODBUS_WIRING } from '../fixtures/modbus-wiring.ts';
import { actuationContract, type Channel } from './actuation-contract.ts';

describe('actuation contract: simulated Modbus RTU relay module', function () {
  this.timeout(30_000);
  actuationContract(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-contract-mb-'));
    const truth = path.join(dir, 'truth.jsonl');
    const sim = await startSimBench({ groundTruthPath: truth, wiring: MODBUS_WIRING });
    const log = new ObservationLog();
    const board = new ModbusRelayBoard({
      name: 'relays-mb',
      port: { path: sim.description.ports['relays-mb']! },
      unitId: 3,
      baudRate: 9600,
      outputs: [
        { pin: 0, activeLow: false, name: 'PRESSURE_UP' },
        { pin: 1, activeLow: false, name: 'PRESSURE_DOWN' },
        { pin: 7, activeLow: false, name: 'power:pi' },
      ],
      log,
    });
    await board.open();
    // The sim's ground truth names each coil `<board>:<channel label>`.
    const channels: Channel[] = [
      { name: 'relays-mb:PRESSURE_UP', out: board.output(0), activeLow: false },
      { name: 'relays-mb:PRESSURE_DOWN', out: board.output(1), activeLow: false },
      { name: 'relays-mb:power-pi', out: board.output(7), activeLow: false },
    ];
    return {
      log,
      channels,
      limits: { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 20 },
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
