/**
 * A rig board of kind `modbus-rtu` becomes a Modbus relay-module slave on a PTY in the sim process,
 * and its coils drive the bench as a Firmata board's pins do: a button coil presses the panel (the
 * Pi's GPIO in the ground truth), the power coil cuts the Pi's supply. Driven by the harness's
 * ModbusRelayBoard, as a run would.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { RunStoppedError } from '../../harness/core/errors.ts';
import { ModbusRelayBoard } from '../../harness/hw/modbus-relay-board.ts';
import { readGroundTruth, type TruthRecord } from '../../harness/sim/ground-truth.ts';
import { startSimBench, type SimBenchHandle } from '../../harness/sim/sim-process.ts';
import { planBench } from '../../harness/sim/wiring.ts';
import { MODBUS_WIRING } from '../fixtures/modbus-wiring.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` (the ground truth is flushed every 100 ms) for up to 3 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const t0 = Date.now(); !cond(); await sleep(25)) if (Date.now() - t0 > 3000) throw new Error(`not seen within 3 s: ${what}`);
}

describe('sim: a modbus-rtu rig board', function () {
  this.timeout(30_000);
  let sim: SimBenchHandle;
  let dir: string;
  let truth: string;
  let board: ModbusRelayBoard;
  let log: ObservationLog;
  const records = (f: (r: TruthRecord) => boolean): TruthRecord[] => readGroundTruth(truth).filter(f);

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-sim-mb-'));
    truth = path.join(dir, 'truth.jsonl');
    sim = await startSimBench({ groundTruthPath: truth, wiring: MODBUS_WIRING });
    log = new ObservationLog();
    board = new ModbusRelayBoard({
      name: 'relays-mb',
      port: { path: sim.description.ports['relays-mb']! },
      unitId: 3,
      outputs: [
        { pin: 0, activeLow: false, name: 'PRESSURE_UP' },
        { pin: 1, activeLow: false, name: 'PRESSURE_DOWN' },
        { pin: 7, activeLow: false, name: 'power:pi' },
      ],
      log,
    });
    await board.open();
  });
  after(async function () {
    await board?.close();
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is planned as a Modbus module with its coils, and refused where the module has no such coil', function () {
    const plan = planBench(MODBUS_WIRING);
    expect(plan.boards).to.have.length(1);
    expect(plan.boards[0]).to.deep.include({ kind: 'modbus-rtu', port: 'relays-mb', unitId: 3, coils: 16, baudRate: 9600 });
    expect(plan.boards[0]!.channels.map((c) => c.pin)).to.deep.equal([0, 1, 7]);
    const bad = { ...MODBUS_WIRING, power: { pi: { ...MODBUS_WIRING.power.pi!, pin: 16 } } };
    expect(() => planBench(bad)).to.throw(/power\.pi\.pin is the coil address on Modbus board relays-mb and must be 0-15 \(0-based, as on the wire\), got 16/);
    const kind = { ...MODBUS_WIRING, boards: { 'relays-mb': { ...MODBUS_WIRING.boards['relays-mb']!, kind: 'usb-hid' } } };
    expect(() => planBench(kind)).to.throw(/boards\.relays-mb\.kind must be one of firmata, modbus-rtu/);
  });

  it('a button coil presses the panel: the Pi\'s GPIO goes low and back', async function () {
    const t0 = process.hrtime.bigint();
    await board.output(0).set(true);
    await sleep(60);
    await board.output(0).set(false);
    const edges = () => records((r) => r.kind === 'gpio' && r.src === 'gpio:pi' && r.t >= t0 && r.btn === 'PRESSURE_UP' && r.bounce === false);
    await until(() => edges().length >= 2, 'the GPIO low and back');
    const gpio = edges();
    expect(gpio.map((r) => r.level)).to.deep.equal([0, 1]);
    expect(gpio[0]!.pin).to.equal(MODBUS_WIRING.buttons.PRESSURE_UP!.gpio);
  });

  it('the power coil cuts the Pi\'s supply (NC: energised is off) and gives it back', async function () {
    // The bench's supplies come up a moment after it starts: from then on the relay switches them.
    await until(() => records((r) => r.kind === 'power' && r.src === 'power:pi').length > 0, 'the bench supply on');
    const t0 = process.hrtime.bigint();
    await board.output(7).set(true);
    await until(() => records((r) => r.kind === 'power' && r.src === 'power:pi' && r.t >= t0).length >= 1, 'the Pi switched off');
    await board.output(7).set(false);
    await until(() => records((r) => r.kind === 'power' && r.src === 'power:pi' && r.t >= t0).length >= 2, 'the Pi switched on again');
    const power = records((r) => r.kind === 'power' && r.src === 'power:pi' && r.t >= t0);
    expect(power.map((r) => r.on)).to.deep.equal([false, true]);
  });

  it('emergencyReleaseSync with a request in flight: waits for the line, the module takes both frames', async function () {
    await board.output(0).set(true);
    const inFlight = board.output(1).set(true).catch((e: unknown) => e);
    const t0 = process.hrtime.bigint();
    expect(board.emergencyReleaseSync('second Ctrl-C')).to.equal(true);
    await inFlight;
    const coils = () => records((r) => r.kind === 'pin' && r.src === 'relays-mb' && r.t >= t0 - 50_000_000n);
    // Coil 0 was energised by the request in flight, then released by the emergency frame.
    await until(() => coils().filter((r) => r.pin === 0).map((r) => r.level).join() === '1,0', 'coil 0 on (the request in flight), then off (the emergency frame)');
    const last = new Map(coils().map((r) => [r.pin, r.level]));
    expect([0, 1, 7].map((c) => last.get(c) ?? 0)).to.deep.equal([0, 0, 0]);
    expect(records((r) => r.src === 'relays-mb' && r.kind === 'rtu' && r.what === 'crc_error'), 'frames run together').to.deep.equal([]);
    // After the emergency release nothing is sent again.
    const e = await board.output(0).set(true).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).to.be.instanceOf(RunStoppedError);
  });
});
