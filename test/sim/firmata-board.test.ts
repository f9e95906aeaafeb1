import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import firmataIo, { type Firmata } from 'firmata-io';
import five, { type Board } from 'johnny-five';
import { FirmataBoardSim, type FirmataBoardSimOptions } from '../../harness/sim/firmata/board.ts';
import { GroundTruthLog, type TruthRecord } from '../../harness/sim/ground-truth.ts';
import { PtyPair } from '../../harness/sim/pty.ts';
import { RelayModule } from '../../harness/sim/relay.ts';

// The device side is tested twice: byte-level against the sim directly (exact replies, computed
// times), then end to end with serialport 13 + firmata-io + johnny-five over a real PTY. Waits are
// deadlines on observations; timing assertions use the sim's computed times, with wide margins
// on anything measured by the wall clock (the host may be a loaded 2-core box).

const MS = 1_000_000n;
const BYTE_NS = 173_611n; // 10 bits at 57600 baud
const now = (): bigint => process.hrtime.bigint();
const { Firmata: FirmataIo } = firmataIo;

/** Resolve when `cond()` holds, polling every 2 ms; reject after `ms` naming `what`. */
async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`expected ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const encode7 = (s: string): number[] => [...Buffer.from(s, 'latin1')].flatMap((b) => [b & 0x7f, b >> 7]);
const hex = (b: Iterable<number>): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** A sim with its output captured, as the host would receive it. */
class Captured {
  readonly chunks: Array<{ bytes: Buffer; wall: bigint }> = [];
  readonly records: TruthRecord[] = [];
  readonly truth = new GroundTruthLog();
  readonly board: FirmataBoardSim;

  constructor(opts: Partial<FirmataBoardSimOptions> = {}) {
    this.truth.onRecord((r) => this.records.push(r));
    this.board = new FirmataBoardSim({
      name: 'uno',
      send: (bytes) => this.chunks.push({ bytes, wall: now() }),
      truth: this.truth,
      bootBlinkMs: 30,
      ...opts,
    });
  }

  get bytes(): number[] {
    return this.chunks.flatMap((c) => [...c.bytes]);
  }

  /** Output received after byte offset `from`, waiting until it holds `n` bytes. */
  async reply(from: number, n: number, what: string, ms = 3000): Promise<number[]> {
    await waitFor(() => this.bytes.length >= from + n, `${what} (${n} bytes; have ${this.bytes.length - from}: ${hex(this.bytes.slice(from))})`, ms);
    return this.bytes.slice(from, from + n);
  }

  pins(pin: number): TruthRecord[] {
    return this.records.filter((r) => r.kind === 'pin' && r.pin === pin);
  }

  async boot(): Promise<void> {
    this.board.powerOn();
    await this.board.whenRunning();
    await this.reply(0, 3 + 4 + 2 * 'StandardFirmata.ino'.length + 1, 'boot version reports');
  }
}

const VERSION = [0xf9, 2, 5];
const FIRMWARE = [0xf0, 0x79, 2, 5, ...encode7('StandardFirmata.ino'), 0xf7];

describe('FirmataBoardSim (bytes)', function () {
  const sims: Captured[] = [];
  const sim = (opts?: Partial<FirmataBoardSimOptions>): Captured => {
    const s = new Captured(opts);
    sims.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of sims.splice(0)) s.board.powerOff();
  });

  it('boots like StandardFirmata: blinks 2 + 5 on pin 13, reports version and firmware, then outputs LOW / analog inputs', async function () {
    const s = sim({ bootBlinkMs: 40 });
    s.board.powerOn();
    assert.equal(s.board.state, 'booting');
    await s.board.whenRunning();
    const out = await s.reply(0, VERSION.length + FIRMWARE.length, 'version reports');
    assert.deepEqual(out, [...VERSION, ...FIRMWARE]);

    const power = s.records.find((r) => r.kind === 'power');
    const boot = s.records.find((r) => r.kind === 'boot');
    assert.ok(power && boot);
    const bootNs = boot.t - power.t;
    assert.ok(bootNs >= 39n * MS && bootNs <= 41n * MS, `boot took ${Number(bootNs) / 1e6} ms of device time`);
    // Nothing leaves the board before the version report's last stop bit.
    const firstChunk = s.chunks[0];
    assert.ok(firstChunk && firstChunk.wall >= boot.t + BYTE_NS, 'first output after its first byte time');

    const highs = s.pins(13).filter((r) => r.level === 1 && r.t <= boot.t);
    assert.equal(highs.length, 7, 'two then five flashes');
    for (let pin = 2; pin <= 13; pin++) {
      assert.equal(s.board.modeOf(pin), 'OUTPUT', `pin ${pin}`);
      assert.equal(s.board.levelOf(pin), 0, `pin ${pin}`);
    }
    for (let pin = 14; pin <= 19; pin++) {
      assert.equal(s.board.modeOf(pin), 'ANALOG', `pin ${pin}`);
      assert.equal(s.board.levelOf(pin), null, `pin ${pin}`);
    }
  });

  it('answers the capability and analog mapping queries as the firmware does on an Uno', async function () {
    const s = sim();
    await s.boot();
    let from = s.bytes.length;
    s.board.receive(Buffer.from([0xf0, 0x6b, 0xf7]));
    const digital = [0, 1, 0x0b, 1, 1, 1];
    const perPin: number[][] = [];
    for (let pin = 0; pin < 20; pin++) {
      const modes: number[] = [];
      if (pin >= 2) modes.push(...digital);
      if (pin >= 14) modes.push(2, 10);
      if ([3, 5, 6, 9, 10, 11].includes(pin)) modes.push(3, 8);
      if (pin >= 2) modes.push(4, 14);
      if (pin === 18 || pin === 19) modes.push(6, 1);
      perPin.push([...modes, 0x7f]);
    }
    const cap = [0xf0, 0x6c, ...perPin.flat(), 0xf7];
    assert.equal(cap.length, 195);
    assert.deepEqual(await s.reply(from, cap.length, 'capability response'), cap);
    // Spot checks written out by hand: RX has no modes; D3 is PWM; A4/SDA is digital, analog and I2C.
    assert.deepEqual(perPin[0], [0x7f]);
    assert.deepEqual(perPin[3], [0, 1, 0x0b, 1, 1, 1, 3, 8, 4, 14, 0x7f]);
    assert.deepEqual(perPin[18], [0, 1, 0x0b, 1, 1, 1, 2, 10, 4, 14, 6, 1, 0x7f]);

    from = s.bytes.length;
    s.board.receive(Buffer.from([0xf0, 0x69, 0xf7]));
    const map = [0xf0, 0x6a, ...Array<number>(14).fill(0x7f), 0, 1, 2, 3, 4, 5, 0xf7];
    assert.deepEqual(await s.reply(from, map.length, 'analog mapping'), map);
  });

  it('acts on a command no earlier than its last byte would arrive at 57600 baud', async function () {
    const s = sim();
    await s.boot();
    const sent = now();
    s.board.receive(Buffer.from([0xf4, 8, 1, 0x91, 0x01, 0x00])); // pin 8 OUTPUT, port 1 = 0b1
    await waitFor(() => s.board.levelOf(8) === 1, 'pin 8 high');
    const mode = s.pins(8).find((r) => r.t > sent);
    const high = s.pins(8).find((r) => r.level === 1);
    assert.ok(mode && high);
    // Pin 8 was already an OUTPUT at LOW after boot: only the DIGITAL_MESSAGE changes it.
    assert.equal(mode, high);
    const lag = high.t - sent;
    assert.ok(lag >= 6n * BYTE_NS, `pin changed ${Number(lag) / 1e3} µs after the first byte was handed over; 6 bytes take ${Number(6n * BYTE_NS) / 1e3} µs`);
    assert.ok(lag < 6n * BYTE_NS + 200_000n, `and not much later (${Number(lag) / 1e3} µs)`);
  });

  it('paces its output at 57600 baud and releases it in batches, not per byte and not all at once', async function () {
    const s = sim();
    await s.boot();
    const from = s.bytes.length;
    const chunksBefore = s.chunks.length;
    const sent = now();
    s.board.receive(Buffer.from([0xf0, 0x6b, 0xf7]));
    await s.reply(from, 195, 'capability response');
    const last = s.chunks.at(-1);
    assert.ok(last);
    const span = last.wall - sent;
    const wire = (3n + 195n) * BYTE_NS;
    assert.ok(span >= wire, `195 bytes delivered ${Number(span) / 1e6} ms after the query; the wire needs ${Number(wire) / 1e6} ms`);
    const batches = s.chunks.length - chunksBefore;
    assert.ok(batches >= 5 && batches < 195, `${batches} batches`);
  });

  it('SYSTEM_RESET: outputs keep their level and a pin left with its pull-up on becomes OUTPUT HIGH', async function () {
    const s = sim();
    await s.boot();
    const from0 = s.bytes.length;
    s.board.receive(
      Buffer.from([
        0xf4, 7, 0x0b, // D7 INPUT_PULLUP
        0xf4, 6, 1, 0xf5, 6, 1, // D6 OUTPUT HIGH
        0xf4, 5, 0, // D5 INPUT
        0xf4, 9, 3, 0xe9, 0x40, 0x00, // D9 PWM 64/255
        0xd0, 1, // report port 0
      ]),
    );
    await waitFor(() => s.board.modeOf(9) === 'PWM' && s.board.levelOf(6) === 1, 'pins set up');
    // Port 0 as read: D5 floats (0), D7 reads its pull-up (1); outputs are masked out.
    assert.deepEqual(await s.reply(from0, 3, 'port 0 report'), [0x90, 0x00, 0x01]);
    assert.equal(s.board.levelOf(7), null);
    assert.equal(s.board.modeOf(7), 'PULLUP');
    const d9 = s.pins(9).at(-1);
    assert.ok(d9);
    assert.equal(d9.level, 1);
    assert.ok(Math.abs((d9.duty as number) - 64 / 255) < 1e-9);

    const from = s.bytes.length;
    s.board.receive(Buffer.from([0xff, 0xf0, 0x6d, 7, 0xf7]));
    await waitFor(() => s.records.some((r) => r.kind === 'fw_reset'), 'fw_reset record');
    assert.equal(s.board.modeOf(7), 'OUTPUT');
    assert.equal(s.board.levelOf(7), 1, 'the pull-up PORT bit now drives the pin');
    assert.equal(s.board.levelOf(6), 1, 'pinMode(OUTPUT) keeps the level');
    assert.equal(s.board.levelOf(5), 0);
    assert.equal(s.board.levelOf(9), 0, 'PWM is turned off on the way to OUTPUT');
    // The firmware believes the pin is at 0: PIN_STATE_RESPONSE for D7 says OUTPUT, state 0.
    const reply = await s.reply(from, 6, 'pin state of D7');
    assert.deepEqual(reply, [0xf0, 0x6e, 7, 1, 0, 0xf7]);
    await pause(30);
    assert.equal(s.bytes.length, from + 6, 'reporting was switched off by the reset');
  });

  it('reports a digital port on REPORT_DIGITAL at once, then on every input change only', async function () {
    const s = sim();
    await s.boot();
    let from = s.bytes.length;
    s.board.receive(Buffer.from([0xf4, 2, 0, 0xf4, 3, 0x0b, 0xd0, 1]));
    // D2 floats (read as 0), D3 has its pull-up: 0b1000.
    assert.deepEqual(await s.reply(from, 3, 'immediate port report'), [0x90, 0x08, 0x00]);
    from = s.bytes.length;
    s.board.setInput(2, 1);
    assert.deepEqual(await s.reply(from, 3, 'report of D2 high'), [0x90, 0x0c, 0x00]);
    from = s.bytes.length;
    s.board.setInput(2, 1);
    s.board.setInput(4, 1); // D4 is an OUTPUT: masked out
    await pause(20);
    assert.equal(s.bytes.length, from, 'no change, no report');
    s.board.setInput(3, 0);
    assert.deepEqual(await s.reply(from, 3, 'report of D3 pulled low'), [0x90, 0x04, 0x00]);
    assert.ok(s.records.some((r) => r.kind === 'input' && r.pin === 3 && r.level === 0));
  });

  it('answers REPORT_VERSION, REPORT_FIRMWARE and PIN_STATE queries; ignores unknown sysex; rejects unknown pin modes', async function () {
    const s = sim();
    await s.boot();
    let from = s.bytes.length;
    s.board.receive(Buffer.from([0xf0, 0x01, 0x02, 0x03, 0xf7, 0xf0, 0x76, 0x10, 0x08, 0xf7, 0xf9]));
    assert.deepEqual(await s.reply(from, 3, 'version after unknown sysex'), VERSION);
    from = s.bytes.length;
    s.board.receive(Buffer.from([0xf0, 0x79, 0xf7, 0xf0, 0x6d, 13, 0xf7, 0xf0, 0x6d, 40, 0xf7]));
    const pinState = [0xf0, 0x6e, 13, 1, 0, 0xf7, 0xf0, 0x6e, 40, 0xf7];
    assert.deepEqual(await s.reply(from, FIRMWARE.length + pinState.length, 'firmware + pin states'), [...FIRMWARE, ...pinState]);
    from = s.bytes.length;
    s.board.receive(Buffer.from([0xf4, 8, 0x05])); // SHIFT: not in StandardFirmata
    const msg = [0xf0, 0x71, ...encode7('Unknown pin mode'), 0xf7];
    assert.deepEqual(await s.reply(from, msg.length, 'STRING_DATA'), msg);
    assert.equal(s.board.modeOf(8), 'OUTPUT');
  });

  it('SET_DIGITAL_PIN_VALUE drives OUTPUT pins only; SAMPLING_INTERVAL paces analog reports', async function () {
    const s = sim();
    await s.boot();
    s.board.receive(Buffer.from([0xf5, 8, 1, 0xf4, 2, 0, 0xf5, 2, 1]));
    await waitFor(() => s.board.levelOf(8) === 1 && s.board.modeOf(2) === 'INPUT', 'D8 high, D2 input');
    await pause(5);
    assert.equal(s.board.levelOf(2), null, 'no pull-up from SET_DIGITAL_PIN_VALUE');

    s.board.setAnalog(0, 700);
    const from = s.bytes.length;
    s.board.receive(Buffer.from([0xf0, 0x7a, 10, 0, 0xf7, 0xc0, 1]));
    // Immediate report, then one every 10 ms.
    assert.deepEqual(await s.reply(from, 3, 'first analog report'), [0xe0, 700 & 0x7f, 700 >> 7]);
    await s.reply(from, 3 * 5, 'five analog reports', 1000);
    s.board.receive(Buffer.from([0xc0, 0]));
    await pause(30);
    const n = s.bytes.length;
    await pause(40);
    assert.equal(s.bytes.length, n, 'reporting stopped');
  });

  it('ignores input and sends nothing while off; refuses calls in the wrong state', async function () {
    const s = sim();
    assert.throws(() => s.board.reset(), /reset\(\) refused in state 'off'/);
    await assert.rejects(s.board.whenRunning(), /refused in state 'off'/);
    s.board.receive(Buffer.from([0xf9]));
    await s.boot();
    assert.throws(() => s.board.powerOn(), /powerOn\(\) refused in state 'running'/);
    assert.throws(() => s.board.setInput(20, 1), /setInput pin must be an integer 0-19, got 20/);
    s.board.receive(Buffer.from([0xf4, 8, 1, 0x91, 1, 0]));
    await waitFor(() => s.board.levelOf(8) === 1, 'D8 high');
    s.board.powerOff();
    assert.equal(s.board.levelOf(8), null);
    assert.equal(s.board.modeOf(8), 'OFF');
    assert.equal(s.pins(8).at(-1)?.mode, 'OFF');
    const n = s.bytes.length;
    s.board.receive(Buffer.from([0xf9, 0xf0, 0x79, 0xf7]));
    s.board.setInput(2, 1);
    await pause(30);
    assert.equal(s.bytes.length, n);
    // Power back: boots again, pins come back to the reset state.
    s.board.powerOn();
    await s.board.whenRunning();
    await s.reply(n, VERSION.length, 'version after power cycle');
    assert.equal(s.board.levelOf(8), 0);
    // reset(): pins float at once, then the same boot.
    s.board.reset();
    assert.equal(s.board.state, 'booting');
    assert.equal(s.board.levelOf(8), null);
    await s.board.whenRunning();
    assert.equal(s.board.levelOf(8), 0);
  });
});

// ---------------------------------------------------------------------------------------------

/** A PTY bench: the sim on the device side, serialport + firmata-io + johnny-five on the host side. */
class PtyRig {
  readonly pty = new PtyPair();
  readonly truth = new GroundTruthLog();
  readonly records: TruthRecord[] = [];
  readonly board: FirmataBoardSim;
  readonly contacts: Array<{ label: string; closed: boolean; t: bigint; bounce: boolean }> = [];
  relays: RelayModule | undefined;
  port: SerialPort | undefined;
  io: Firmata | undefined;
  j5: Board | undefined;

  constructor() {
    this.truth.onRecord((r) => this.records.push(r));
    this.board = new FirmataBoardSim({ name: 'uno', send: (b) => void this.pty.write(b), truth: this.truth });
    this.pty.on('data', (b: Buffer) => this.board.receive(b));
  }

  wireRelays(activeLow: boolean, pins: Record<number, string>): RelayModule {
    this.relays = new RelayModule({
      name: 'relays',
      activeLow,
      seed: 2024,
      pins,
      truth: this.truth,
      onContact: (label, closed, t, bounce) => this.contacts.push({ label, closed, t, bounce }),
    });
    this.relays.attach(this.board);
    return this.relays;
  }

  /**
   * Open the port and build firmata-io on it in the same tick, so it sees the port's `open`.
   * Call {@link johnnyFive} before yielding to the event loop, for the same reason.
   */
  openHost(options: { reportVersionTimeout?: number } = {}): { port: SerialPort; io: Firmata } {
    const port = new SerialPort({ path: this.pty.path, baudRate: 57600 });
    const io = new FirmataIo(port, options);
    this.port = port;
    this.io = io;
    return { port, io };
  }

  async johnnyFive(ms: number): Promise<Board> {
    const io = this.io;
    assert.ok(io, 'openHost() first');
    const j5 = new five.Board({ io, repl: false, debug: false, sigint: false });
    this.j5 = j5;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected johnny-five 'ready' within ${ms} ms`)), ms);
      j5.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return j5;
  }

  last(kind: string, pred: (r: TruthRecord) => boolean = () => true): TruthRecord | undefined {
    return this.records.filter((r) => r.kind === kind && pred(r)).at(-1);
  }

  async close(): Promise<void> {
    const port = this.port;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    this.board.powerOff();
    this.relays?.dispose();
    this.pty.close();
  }
}

describe('FirmataBoardSim under johnny-five 2.1 / firmata-io 2.3 over a PTY', function () {
  let rig: PtyRig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('completes the handshake with default options (boot report flushed by the open; firmata-io asks after 5000 ms)', async function () {
    this.timeout(20000);
    rig = new PtyRig();
    rig.board.powerOn();
    await rig.board.whenRunning();
    await pause(20); // the version report is in the PTY before the host opens it
    const t0 = Date.now();
    const { io } = rig.openHost();
    await rig.johnnyFive(12000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 4900, `ready after ${elapsed} ms: the flushed boot report cannot have been seen`);
    assert.ok(elapsed < 9000, `ready after ${elapsed} ms`);
    assert.deepEqual(io.firmware, { name: 'StandardFirmata.ino', version: { major: 2, minor: 5 } });
    assert.deepEqual(io.version, { major: 2, minor: 5 });
    assert.equal(io.pins.length, 20);
    assert.deepEqual(io.analogPins, [14, 15, 16, 17, 18, 19]);
    assert.deepEqual(io.pins[0]?.supportedModes, []);
    assert.deepEqual(io.pins[3]?.supportedModes, [0, 1, 3, 4, 11]);
    assert.deepEqual(io.pins[18]?.supportedModes, [0, 1, 2, 4, 6, 11]);
    assert.deepEqual(io.RESOLUTION, { ADC: 1023, DAC: null, PWM: 255 });
  });

  it('is ready without the 5 s wait when the board boots after the host opened the port', async function () {
    rig = new PtyRig();
    const { port } = rig.openHost();
    // johnny-five must exist before the port opens: it waits for firmata-io's `connect`, which is
    // emitted once, on the transport's `open`.
    const ready = rig.johnnyFive(3000);
    await new Promise<void>((resolve, reject) => {
      port.once('open', () => resolve());
      port.once('error', reject);
    });
    const t0 = Date.now();
    rig.board.powerOn();
    await ready;
    assert.ok(Date.now() - t0 < 2000, `ready after ${Date.now() - t0} ms`);
  });

  it('five.Relay NC on an active-low module: open()/close() drive pin 8 and the contact follows 3–5 / 5–8 ms later', async function () {
    rig = new PtyRig();
    const relays = rig.wireRelays(true, { 8: 'K1' });
    rig.board.powerOn();
    await rig.board.whenRunning();
    rig.openHost({ reportVersionTimeout: 200 });
    const j5 = await rig.johnnyFive(5000);
    const k1 = relays.channels.get(8);
    assert.ok(k1);
    // StandardFirmata makes every digital pin an OUTPUT LOW at boot: an active-low module pulls in
    // as soon as the firmware starts, before the host has said anything.
    await waitFor(() => k1.isClosed, 'K1 closed since boot');
    j5.pinMode(8, five.Pin.OUTPUT);
    const relay = new five.Relay({ pin: 8, type: 'NC', board: j5 });

    const tOpen = now();
    relay.open(); // NC: writes HIGH → coil released
    await waitFor(() => !k1.isClosed, 'K1 open');
    const high = rig.last('pin', (r) => r.pin === 8 && r.level === 1);
    assert.ok(high, 'pin 8 went HIGH');
    assert.ok(high.t - tOpen >= 3n * BYTE_NS, `pin changed ${Number(high.t - tOpen) / 1e3} µs after open(); the message alone takes 521 µs`);
    assert.ok(high.t - tOpen < 100n * MS);
    const brk = rig.contacts.at(-1);
    assert.ok(brk && !brk.closed && !brk.bounce);
    assert.ok(brk.t - high.t >= 3n * MS && brk.t - high.t <= 5n * MS, `release ${Number(brk.t - high.t) / 1e6} ms`);

    const tClose = now();
    relay.close(); // NC: writes LOW → coil energised
    await waitFor(() => k1.isClosed && k1.settled, 'K1 closed again');
    const low = rig.last('pin', (r) => r.pin === 8 && r.level === 0);
    assert.ok(low && low.t - tClose >= 3n * BYTE_NS);
    const make = rig.contacts.find((c) => c.t > low.t && c.closed && !c.bounce);
    assert.ok(make, 'a make after the pin went LOW');
    assert.ok(make.t - low.t >= 5n * MS && make.t - low.t <= 8n * MS, `operate ${Number(make.t - low.t) / 1e6} ms`);
    assert.equal(relay.isClosed, true);
    const coils = rig.records.filter((r) => r.kind === 'coil').map((r) => r.on);
    assert.deepEqual(coils, [true, false, true]);
  });

  it('five.Relay NO on an active-high module, and io.digitalRead of a pin driven with setInput', async function () {
    rig = new PtyRig();
    const relays = rig.wireRelays(false, { 7: 'K2' });
    rig.board.powerOn();
    await rig.board.whenRunning();
    const { io } = rig.openHost({ reportVersionTimeout: 200 });
    const j5 = await rig.johnnyFive(5000);
    const k2 = relays.channels.get(7);
    assert.ok(k2 && !k2.isClosed);
    j5.pinMode(7, five.Pin.OUTPUT);
    const relay = new five.Relay({ pin: 7, type: 'NO', board: j5 });
    relay.close();
    await waitFor(() => k2.isClosed && k2.settled, 'K2 closed');
    relay.open();
    await waitFor(() => !k2.isClosed, 'K2 open');

    const seen: number[] = [];
    j5.pinMode(2, five.Pin.INPUT);
    io.digitalRead(2, (v) => seen.push(v));
    await waitFor(() => seen.length >= 1, 'first report (sent at once on REPORT_DIGITAL)');
    assert.equal(seen.at(-1), 0);
    rig.board.setInput(2, 1);
    await waitFor(() => seen.at(-1) === 1, 'digital-read-2 = 1');
    rig.board.setInput(2, 0);
    await waitFor(() => seen.at(-1) === 0, 'digital-read-2 = 0');
    assert.ok(rig.records.some((r) => r.kind === 'input' && r.pin === 2));
  });

  it('io.reset() (SYSTEM_RESET) turns a pin left as INPUT_PULLUP into OUTPUT HIGH, which pulls in an active-high relay', async function () {
    rig = new PtyRig();
    const relays = rig.wireRelays(false, { 8: 'K3' });
    rig.board.powerOn();
    await rig.board.whenRunning();
    const { io } = rig.openHost({ reportVersionTimeout: 200 });
    const j5 = await rig.johnnyFive(5000);
    const k3 = relays.channels.get(8);
    assert.ok(k3);
    j5.pinMode(8, io.MODES.PULLUP);
    await waitFor(() => rig?.board.modeOf(8) === 'PULLUP', 'D8 PULLUP');
    assert.equal(k3.coilOn, false, 'a weak pull-up does not drive the module');

    io.reset();
    await waitFor(() => rig?.last('fw_reset') !== undefined, 'SYSTEM_RESET processed');
    assert.equal(rig.board.modeOf(8), 'OUTPUT');
    assert.equal(rig.board.levelOf(8), 1);
    await waitFor(() => k3.isClosed && k3.settled, 'K3 pulled in by the reset');
    // The firmware still answers afterwards and believes D8 is at 0.
    await new Promise<void>((resolve) => io.queryPinState(8, () => resolve()));
    assert.equal(io.pins[8]?.mode, 1);
    assert.equal(io.pins[8]?.state, 0);
  });
});
