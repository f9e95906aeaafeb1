/**
 * The Modbus RTU relay board driver (modbus-serial on serialport 13) against the sim's relay-module
 * slave through a real PTY. The slave is the sim's own implementation of the spec, in this
 * process; what its coils did is read from it, not from the driver.
 */
import { expect } from 'chai';
import { RigFault, RunStoppedError } from '../../harness/core/errors.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import type { OwnedOutput } from '../../harness/core/interfaces.ts';
import { ModbusRelayBoard, type ModbusRelayBoardOptions } from '../../harness/hw/modbus-relay-board.ts';
import { withCrc } from '../../harness/sim/modbus/rtu.ts';
import { ModbusRelaySlave } from '../../harness/sim/modbus/slave.ts';
import { PtyPair } from '../../harness/sim/pty.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Bench {
  pty: PtyPair;
  slave: ModbusRelaySlave;
  /** Every coil change, in order, with the slave's time. */
  changes: Array<{ coil: number; on: boolean; t: bigint }>;
}

function simModule(opts: { unitId?: number; coils?: number; baudRate?: number } = {}): Bench {
  const pty = new PtyPair();
  const slave = new ModbusRelaySlave({ name: 'mb', unitId: opts.unitId ?? 1, coils: opts.coils ?? 16, baudRate: opts.baudRate ?? 9600, send: (b) => void pty.write(b) });
  pty.on('data', (b: Buffer) => slave.receive(b));
  const changes: Bench['changes'] = [];
  slave.onPinChange((coil, level, _mode, t) => {
    if (level !== null) changes.push({ coil, on: level === 1, t });
  });
  slave.powerOn();
  changes.length = 0;
  return { pty, slave, changes };
}

/** Set coils on the module as an earlier session would have left them (a request straight to the slave). */
async function leaveEnergised(b: Bench, coil: number): Promise<void> {
  b.slave.receive(withCrc([1, 0x05, 0, coil, 0xff, 0x00]));
  await sleep(30);
}

const OUTS: OwnedOutput[] = [
  { pin: 0, activeLow: false, name: 'PRESSURE_UP' },
  { pin: 1, activeLow: false, name: 'PRESSURE_DOWN' },
  { pin: 5, activeLow: false, name: 'power:pi' },
];

describe('ModbusRelayBoard on the sim relay module (PTY)', function () {
  this.timeout(20_000);
  let bench: Bench;
  let log: ObservationLog;
  let board: ModbusRelayBoard | undefined;
  const make = (o: Partial<ModbusRelayBoardOptions> = {}): ModbusRelayBoard => {
    board = new ModbusRelayBoard({ name: 'relays-mb', port: { path: bench.pty.path }, outputs: OUTS, log, ...o });
    return board;
  };

  beforeEach(function () {
    bench = simModule();
    log = new ObservationLog();
  });
  afterEach(async function () {
    await board?.close();
    board = undefined;
    bench.slave.powerOff();
    bench.pty.close();
  });

  it('opens: reads the coils, releases them, and says what it found', async function () {
    const b = make();
    await b.open();
    expect(b.state).to.equal('ready');
    expect(b.firmware).to.equal('Modbus RTU unit 1');
    expect(b.found).to.deep.include({ state: 'boot', energised: [] });
    const kinds = [...log.since(0)].filter((o) => o.source === 'relays-mb').map((o) => o.kind);
    expect(kinds).to.deep.equal(['takeover', 'takeover_found', 'release_all', 'board_ready']);
    // One read (function 1) and one release-all (function 15), each answered.
    expect(bench.slave.counts).to.include({ frames: 2, answered: 2, crcErrors: 0 });
    expect(b.handshakeMs).to.be.greaterThan(0);
  });

  it('set(true) energises the coil and set(false) releases it; each write is recorded before it happens', async function () {
    // set() resolves when the frame is on the line; drained() when the module has acknowledged.
    const b = make();
    await b.open();
    const out = b.output(5);
    const t0 = process.hrtime.bigint();
    await out.set(true);
    expect(out.active).to.equal(true);
    await b.drained();
    expect(bench.slave.coil(5)).to.equal(true);
    await out.set(false);
    await b.drained();
    expect(bench.slave.coil(5)).to.equal(false);
    expect(bench.changes.map((c) => [c.coil, c.on])).to.deep.equal([
      [5, true],
      [5, false],
    ]);
    const outputs = [...log.since(0)].filter((o) => o.kind === 'output');
    expect(outputs.map((o) => o.fields)).to.deep.equal([
      { pin: 5, name: 'power:pi', active: 1, level: 1 },
      { pin: 5, name: 'power:pi', active: 0, level: 0 },
    ]);
    outputs.forEach((o, i) => {
      expect(o.source).to.equal('relays-mb');
      expect(o.t > t0 && o.t < bench.changes[i]!.t, `output ${i} stamped before the coil changed`).to.equal(true);
    });
  });

  it('activeLow inverts the coil (labgrid\'s invert): released is coil on', async function () {
    const b = make({ outputs: [{ pin: 3, activeLow: true, name: 'inverted' }] });
    await b.open();
    expect(bench.slave.coil(3), 'released at open').to.equal(true);
    await b.output(3).set(true);
    await b.drained();
    expect(bench.slave.coil(3)).to.equal(false);
  });

  it('takeover names the relays an earlier session left energised, and releases them', async function () {
    await leaveEnergised(bench, 1);
    await leaveEnergised(bench, 9); // not ours: written back as found
    const b = make();
    await b.open();
    expect(b.found?.state).to.equal('set');
    expect(b.found?.energised.map((o) => o.name)).to.deep.equal(['PRESSURE_DOWN']);
    expect(bench.slave.coil(1)).to.equal(false);
    expect(bench.slave.coil(9)).to.equal(true);
  });

  it('commands queue on the half-duplex bus and go out in order', async function () {
    const b = make();
    await b.open();
    await Promise.all([b.output(0).set(true), b.output(1).set(true), b.output(0).set(false), b.output(5).set(true)]);
    await b.drained();
    expect(bench.changes.map((c) => [c.coil, c.on])).to.deep.equal([
      [0, true],
      [1, true],
      [0, false],
      [5, true],
    ]);
    b.releaseAll('test');
    await b.drained();
    expect([0, 1, 5].map((c) => bench.slave.coil(c))).to.deep.equal([false, false, false]);
  });

  it('a wrong unit address: no answer, in the bench engineer\'s words', async function () {
    const b = make({ unitId: 7, responseTimeoutMs: 100, retries: 1 });
    const e = await b.open().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).to.be.instanceOf(RigFault);
    expect((e as Error).message).to.match(/no answer from Modbus unit 7 within 100 ms to read coils \(function 1\) \(2 tries\)/);
    expect((e as Error).message).to.match(/A\/B wires not swapped/);
    expect(b.state).to.equal('faulted');
    expect(bench.slave.counts.otherUnit).to.equal(2);
  });

  it('a coil the module does not have: exception 02, named', async function () {
    const b = make({ outputs: [{ pin: 16, activeLow: false, name: 'seventeenth' }] });
    const e = await b.open().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as Error).message).to.match(/refused read coils \(function 1\) with exception 02 \(illegal data address/);
  });

  it('answers with a bad CRC are counted and the request sent again', async function () {
    const b = make();
    await b.open();
    bench.slave.corruptAnswers(2);
    await b.output(0).set(true);
    await b.drained();
    expect(bench.slave.coil(0)).to.equal(true);
    expect(b.stats()).to.include({ crcErrors: 2, retries: 2, timeouts: 0 });
    expect([...log.since(0)].filter((o) => o.kind === 'modbus_retry')).to.have.length(2);
    // More corrupted answers than retries: the write fails as a bench fault, heard by fault listeners.
    const faults: RigFault[] = [];
    b.onFault((f) => faults.push(f));
    bench.slave.corruptAnswers(3);
    await b.output(1).set(true);
    await b.drained();
    expect(faults).to.have.length(1);
    expect(faults[0]!.message).to.match(/failed 3 times, last with an answer that failed its CRC \(5 CRC errors so far\)/);
    expect([...log.since(0)].filter((o) => o.kind === 'modbus_error').map((o) => o.fields?.error)).to.deep.equal([faults[0]!.message]);
  });

  it('halt refuses every energise from then on, drops the queued ones, and releases everything', async function () {
    const b = make();
    await b.open();
    await b.output(0).set(true);
    await b.drained();
    const inFlight = b.output(5).set(true); // on the line: it completes
    const queued = b.output(1).set(true).then(
      () => undefined,
      (x: unknown) => x,
    ); // behind it: never sent
    const queuedOff = b.output(0).set(false);
    b.halt('stop');
    await inFlight;
    await queuedOff;
    expect(await queued).to.be.instanceOf(RunStoppedError);
    const refused = await b.output(5).set(true).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(refused).to.be.instanceOf(RunStoppedError);
    await b.output(0).set(false); // releases still go out
    await b.drained();
    expect(bench.changes.filter((c) => c.coil === 1)).to.deep.equal([]);
    expect([0, 1, 5].map((c) => bench.slave.coil(c))).to.deep.equal([false, false, false]);
  });

  // With a request in flight the frame waits for the line to be quiet; that needs the module in
  // another process (here the sleep would stop the slave too): see the sim-process test.
  it('emergencyReleaseSync writes the release-all frame straight to the port, and nothing energises after it', async function () {
    const b = make();
    await b.open();
    await b.output(0).set(true);
    await b.output(5).set(true);
    await b.drained();
    expect(b.emergencyReleaseSync('process exit')).to.equal(true);
    const after = await b.output(1).set(true).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(after).to.be.instanceOf(RunStoppedError);
    // Nothing reads the answer to the emergency frame: watch the module until it has acted on it.
    for (const t0 = Date.now(); [0, 5].some((c) => bench.slave.coil(c)) && Date.now() - t0 < 2000; ) await sleep(10);
    expect([0, 1, 5].map((c) => bench.slave.coil(c))).to.deep.equal([false, false, false]);
    expect([...log.since(0)].filter((o) => o.kind === 'release_all').at(-1)?.fields).to.include({ reason: 'process exit', sync: 1 });
  });

  it('close() releases every relay and waits for the module to acknowledge', async function () {
    const b = make();
    await b.open();
    await b.output(0).set(true);
    await b.output(1).set(true);
    await b.close();
    expect(b.state).to.equal('closed');
    expect([0, 1].map((c) => bench.slave.coil(c))).to.deep.equal([false, false]);
    // read, release at open, two writes, release at close: each one answered, counted after the port is gone
    expect(b.stats()).to.include({ requests: 5, frames: 5, strayBytes: 0, retries: 0 });
    await b.close();
  });
});
