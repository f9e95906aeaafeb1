/**
 * The Firmata board driver against the REAL StandardFirmata firmware (the prebuilt Uno image
 * avrgirl-arduino ships), executing in avr8js behind a real PTY. Our own Firmata emulation could
 * agree with our driver and both be wrong; this cannot. One emulator for the whole file: a cold
 * boot to johnny-five `ready` takes ~2–3 s (the firmware blinks its version first).
 *
 * Pin levels come from the emulated chip's port registers, recorded at every change, so "never
 * left the released level" is checked on every transition, not on samples.
 */
import { expect } from 'chai';
import firmataIo from 'firmata-io';
import { SerialPort } from 'serialport';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { FirmataBoard, type OwnedOutput } from '../../harness/hw/firmata-board.ts';
import { AvrFirmataBoard, type PinChange, type PinState } from '../../harness/sim/avr/avr-board.ts';
import { ensureStandardFirmataHex } from '../../harness/sim/avr/hex.ts';

const { Firmata: FirmataIo } = firmataIo;

/** Margins for a shared 2-core machine: the emulator needs ~⅓ core, other jobs run alongside. */
const PIN_WITHIN_MS = 1000;
const BOOT_WITHIN_MS = 8000;

const outputs: OwnedOutput[] = [
  ...[2, 3, 4, 5, 6, 7, 14, 15, 16].map((pin) => ({ pin, activeLow: true, name: `low-${pin}` })),
  ...[8, 9, 10, 17, 18, 19].map((pin) => ({ pin, activeLow: false, name: `high-${pin}` })),
];
/** Not owned: wired to contacts in the input test. Pin 13 is the firmware's LED. */
const INPUT_PIN = 11;
const PULLUP_PIN = 12;
/** What StandardFirmata's reset leaves: D2–D13 OUTPUT LOW, A0–A5 analog inputs (D0/D1 are the UART). */
const BOOT_STATE = (pin: number): PinState => (pin >= 2 && pin <= 13 ? 'low' : 'input');

/** Energised: an active-low module conducts on a LOW output; an active-high one on any HIGH, a pull-up included. */
const energised = (o: OwnedOutput) => (s: PinState) => (o.activeLow ? s === 'low' : s === 'high' || s === 'pullup');
const releasedOutput = (o: OwnedOutput): PinState => (o.activeLow ? 'high' : 'low');
/**
 * Held released after the takeover: an active-high input only by a LOW output; an active-low one
 * by a HIGH output or, just as well electrically, the pull-up (a driver that must not pass through
 * OUTPUT LOW may leave it there until the first energise).
 */
const isHeldReleased = (o: OwnedOutput, s: PinState) => (o.activeLow ? s === 'high' || s === 'pullup' : s === 'low');
const fmt = (h: PinChange[]) => h.map((c) => c.state).join('→');

describe('FirmataBoard against real StandardFirmata in avr8js', function () {
  this.timeout(30_000);
  let avr: AvrFirmataBoard;
  let log: ObservationLog;
  let board: FirmataBoard;
  let readyNs = 0n;
  const tx: Array<{ bytes: Buffer; hostNs: bigint }> = [];

  const newBoard = () => new FirmataBoard({ name: 'relays-avr', port: { path: avr.path }, outputs, log });
  /** Host time at which the firmware first transmitted a REPORT_VERSION (0xF9) at or after `since`. */
  const versionReportAt = (since: bigint) => tx.find((t) => t.hostNs >= since && t.bytes.includes(0xf9))?.hostNs;
  /**
   * Open a plain serialport + firmata-io client on the emulator's PTY and wait for its handshake.
   * On a timeout, say where the bytes went: what the firmware received and sent, what the client
   * read, and whether its port is still open.
   */
  const connectClient = (port: SerialPort, io: InstanceType<typeof FirmataIo>) => {
    const since = process.hrtime.bigint();
    const rx: Buffer[] = [];
    const read: Buffer[] = [];
    let closed: string | undefined;
    const onRx = (d: Buffer) => rx.push(d);
    const onRead = (d: Buffer) => read.push(d);
    const onClose = (err?: Error) => (closed = err?.message ?? 'closed');
    avr.on('rx', onRx);
    port.on('data', onRead);
    port.on('close', onClose);
    const hex = (bufs: Buffer[]) => {
      const all = Buffer.concat(bufs);
      return `${all.length} bytes${all.length ? ` (${all.subarray(0, 48).toString('hex')}${all.length > 48 ? '…' : ''})` : ''}`;
    };
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        avr.off('rx', onRx);
        port.off('data', onRead);
        port.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        const sent = tx.filter((t) => t.hostNs >= since).map((t) => t.bytes);
        done(
          new Error(
            `no firmata-io ready within ${BOOT_WITHIN_MS} ms on ${avr.path}: the firmware received ${hex(rx)} and sent ${hex(sent)}; ` +
              `the client read ${hex(read)}; its port is ${port.isOpen ? 'open' : `not open (${closed ?? 'never opened'})`}`,
          ),
        );
      }, BOOT_WITHIN_MS);
      io.once('ready', () => done());
      port.open((err) => err && done(err));
    });
  };
  const requireReady = () => {
    if (board.state !== 'ready') throw new Error(`precondition: the handshake test left the board ${board.state}, not ready`);
  };

  before(async function () {
    this.timeout(90_000); // npm pack on first run
    const hexPath = await ensureStandardFirmataHex();
    avr = await AvrFirmataBoard.start({ hexPath });
    avr.on('tx', (bytes, hostNs) => tx.push({ bytes, hostNs }));
    log = new ObservationLog();
    board = newBoard();
  });

  after(async function () {
    await board?.close();
    await avr?.stop();
  });

  it('handshakes with the firmware once it has blinked its version (paced to real time)', async function () {
    const bootNs = avr.bootNs;
    await board.open();
    // Every pin change the driver causes comes after this instant: the board records its takeover
    // before it writes the first byte of it.
    readyNs = [...log.since(0)].find((o) => o.kind === 'takeover')!.t;
    expect(board.state).to.equal('ready');
    expect(board.firmware).to.match(/^StandardFirmata\.ino 2\.\d+$/);
    expect(board.handshakeMs).to.be.within(0, BOOT_WITHIN_MS);
    // The firmware's own answers to PIN_STATE_QUERY read as its boot state: nothing left by anyone.
    expect(board.found).to.deep.equal({ reason: 'handshake', state: 'boot', energised: [] });
    const ready = [...log.since(0)].find((o) => o.kind === 'board_ready');
    expect(ready?.fields?.handshake_ms, 'board_ready observation').to.equal(+board.handshakeMs.toFixed(1));
    // StandardFirmata blinks its version (~2 s of its own time) before it reports it: a board that
    // answered much sooner would not be running at 16 MHz of host time.
    const versionAt = versionReportAt(bootNs);
    expect(versionAt, 'version report sent at boot').to.not.equal(undefined);
    expect(Number(versionAt! - bootNs) / 1e6).to.be.within(1500, BOOT_WITHIN_MS);
  });

  it('takes over without a glitch: every owned pin released, and never energised again once released', async function () {
    requireReady();
    // The firmware's boot state, set by its systemResetCallback() after the version blink and
    // before it answered the handshake: D2–D13 OUTPUT LOW (active-low relays energised), A0–A5
    // analog inputs.
    const stateAtReady = (pin: number) => avr.history(pin).filter((c) => c.boot === 1 && c.hostNs < readyNs).at(-1)?.state ?? 'input';
    for (const o of outputs) expect(stateAtReady(o.pin), `pin ${o.pin} at the end of the handshake (${fmt(avr.history(o.pin))})`).to.equal(BOOT_STATE(o.pin));
    // The takeover's bytes are queued when open() resolves; let the firmware receive and apply them.
    await avr.rxIdle({ withinMs: PIN_WITHIN_MS });
    // On a loaded machine the emulated firmware may still be working through the last bytes (the
    // line looked quiet while the worker lagged): give each pin its time to settle, then judge.
    for (const o of outputs) {
      if (!isHeldReleased(o, avr.pinState(o.pin))) {
        await avr.waitForPin(o.pin, (s) => isHeldReleased(o, s), { withinMs: PIN_WITHIN_MS, sinceNs: readyNs }).catch(() => undefined);
      }
    }
    const relapses: string[] = [];
    for (const o of outputs) {
      expect(isHeldReleased(o, avr.pinState(o.pin)), `pin ${o.pin} (${o.activeLow ? 'active-low' : 'active-high'}) after open(): ${avr.pinState(o.pin)}`).to.equal(true);
      expect(avr.pinLevel(o.pin), `pin ${o.pin} level`).to.equal(o.activeLow ? 1 : 0);
      // From the driver's first release on, the pin must never be energised, even for one instruction.
      const after = avr.history(o.pin, readyNs);
      const seq = [stateAtReady(o.pin), ...after.map((c) => c.state)];
      const firstReleased = seq.findIndex((s) => !energised(o)(s));
      expect(firstReleased, `pin ${o.pin} released at some point (${seq.join('→')})`).to.be.at.least(0);
      const i = seq.findIndex((s, k) => k > firstReleased && energised(o)(s));
      if (i >= 0) {
        // seq[i] is after[i - 1]; the pulse lasts until the pin's next change.
        const pulse = after[i - 1]!;
        const end = after[i];
        const ms = end ? ((end.simNs - pulse.simNs) / 1e6).toFixed(2) : 'still';
        relapses.push(`pin ${o.pin} (${o.activeLow ? 'active-low' : 'active-high'}) energised again for ${ms} ms of firmware time: ${seq.join('→')}`);
      }
    }
    expect(relapses, `coil pulses during the takeover, against ${board.firmware}`).to.deep.equal([]);
  });

  it('set(true)/set(false) moves the AVR pin the right way on both relay polarities', async function () {
    requireReady();
    for (const o of outputs) {
      const out = board.output(o.pin);
      const t1 = process.hrtime.bigint();
      await out.set(true);
      await avr.waitForPin(o.pin, (s) => s === (o.activeLow ? 'low' : 'high'), { withinMs: PIN_WITHIN_MS, sinceNs: t1, describe: `energised (${o.activeLow ? 'LOW' : 'HIGH'})` });
      expect(avr.pinLevel(o.pin)).to.equal(o.activeLow ? 0 : 1);
      const t2 = process.hrtime.bigint();
      await out.set(false);
      await avr.waitForPin(o.pin, (s) => s === releasedOutput(o), { withinMs: PIN_WITHIN_MS, sinceNs: t2, describe: `released (${releasedOutput(o)})` });
      expect(avr.pinLevel(o.pin)).to.equal(o.activeLow ? 1 : 0);
      // Only this pin moved.
      for (const other of outputs) {
        if (other.pin !== o.pin) expect(avr.history(other.pin, t1), `pin ${other.pin} moved while driving ${o.pin}`).to.deep.equal([]);
      }
    }
  });

  it('reports a contact on an input pin through the firmware (digital reporting over firmata-io)', async function () {
    requireReady();
    const tClose = process.hrtime.bigint();
    await board.close();
    // close() releases everything again (no change on the pins) and lets go of the port.
    for (const o of outputs) expect(avr.history(o.pin, tClose), `pin ${o.pin} moved on close()`).to.deep.equal([]);
    // A second client on the same PTY, as another tool on the bench would connect.
    const port = new SerialPort({ path: avr.path, baudRate: 57600, autoOpen: false });
    const io = new FirmataIo(port, { reportVersionTimeout: 200 });
    try {
      await connectClient(port, io);
      const reads = new Map<number, Array<{ value: number; t: bigint }>>();
      const readOf = (pin: number, value: 0 | 1, since: bigint, what: string) =>
        new Promise<void>((resolve, reject) => {
          const check = () => reads.get(pin)?.some((r) => r.value === value && r.t >= since) ?? false;
          if (check()) return resolve();
          const timer = setTimeout(() => {
            io.off(`digital-read-${pin}`, on);
            reject(new Error(`pin ${pin}: expected firmata-io to read ${value} (${what}) within ${PIN_WITHIN_MS} ms; reads since: ${JSON.stringify(reads.get(pin)?.filter((r) => r.t >= since).map((r) => r.value))}`));
          }, PIN_WITHIN_MS);
          const on = () => {
            if (!check()) return;
            clearTimeout(timer);
            io.off(`digital-read-${pin}`, on);
            resolve();
          };
          io.on(`digital-read-${pin}`, on);
        });
      const watch = (pin: number) => {
        reads.set(pin, []);
        io.digitalRead(pin, (value) => reads.get(pin)!.push({ value, t: process.hrtime.bigint() }));
      };

      // A contact driving pin 11 (plain input) high and low.
      avr.setInput(INPUT_PIN, 0);
      io.pinMode(INPUT_PIN, io.MODES.INPUT);
      let t = process.hrtime.bigint();
      watch(INPUT_PIN);
      await readOf(INPUT_PIN, 0, t, 'contact open, driven low');
      expect(avr.isOutput(INPUT_PIN)).to.equal(false);
      t = process.hrtime.bigint();
      avr.setInput(INPUT_PIN, 1);
      await readOf(INPUT_PIN, 1, t, 'contact driving high');
      t = process.hrtime.bigint();
      avr.setInput(INPUT_PIN, 0);
      await readOf(INPUT_PIN, 0, t, 'contact driving low again');

      // A button to ground on pin 12 with the pull-up on (INPUT, then a HIGH write, as Arduino's
      // classic pull-up idiom and StandardFirmata 2.4 handle it): idle HIGH, pressed LOW.
      avr.setInput(PULLUP_PIN, null);
      io.pinMode(PULLUP_PIN, io.MODES.INPUT);
      io.digitalWrite(PULLUP_PIN, 1);
      await avr.waitForPin(PULLUP_PIN, (s) => s === 'pullup', { withinMs: PIN_WITHIN_MS, sinceNs: t, describe: 'input with pull-up' });
      t = process.hrtime.bigint();
      watch(PULLUP_PIN);
      await readOf(PULLUP_PIN, 1, t, 'button released, pull-up');
      t = process.hrtime.bigint();
      avr.setInput(PULLUP_PIN, 0);
      await readOf(PULLUP_PIN, 0, t, 'button pressed');
      t = process.hrtime.bigint();
      avr.setInput(PULLUP_PIN, null);
      await readOf(PULLUP_PIN, 1, t, 'button released again');
    } finally {
      avr.setInput(INPUT_PIN, null);
      avr.setInput(PULLUP_PIN, null);
      if (port.isOpen) {
        await new Promise<void>((resolve) => port.drain(() => resolve()));
        await new Promise<void>((resolve) => port.close(() => resolve()));
      }
    }
  });

  it('finds, from the firmware\'s own PIN_STATE answers, the relays an earlier host left energised, and releases them', async function () {
    if (board.state === 'ready') await board.close();
    // An earlier host that died holding two relays (one of each polarity), the others released.
    const port = new SerialPort({ path: avr.path, baudRate: 57600, autoOpen: false });
    const io = new FirmataIo(port, { reportVersionTimeout: 200 });
    try {
      await connectClient(port, io);
      const t = process.hrtime.bigint();
      // Firmata writes whole ports: every other owned pin of ports 0 and 1 at its released level.
      for (const pin of [2, 4, 5, 6, 7, 14, 15]) io.updateDigitalPort(pin, 1);
      io.pinMode(3, io.MODES.OUTPUT);
      io.digitalWrite(3, 0);
      io.pinMode(9, io.MODES.OUTPUT);
      io.digitalWrite(9, 1);
      await avr.waitForPin(3, (s) => s === 'low', { withinMs: PIN_WITHIN_MS, sinceNs: 0n, describe: 'left energised (active-low)' });
      await avr.waitForPin(9, (s) => s === 'high', { withinMs: PIN_WITHIN_MS, sinceNs: t, describe: 'left energised (active-high)' });
    } finally {
      if (port.isOpen) {
        await new Promise<void>((resolve) => port.drain(() => resolve()));
        await new Promise<void>((resolve) => port.close(() => resolve()));
      }
    }
    board = newBoard();
    const t = process.hrtime.bigint();
    await board.open();
    expect(board.found?.state).to.equal('set');
    expect(board.found?.energised.map((o) => o.name)).to.deep.equal(['low-3', 'high-9']);
    await avr.waitForPin(3, (s) => s === 'high', { withinMs: PIN_WITHIN_MS, sinceNs: t, describe: 'released' });
    await avr.waitForPin(9, (s) => s === 'low', { withinMs: PIN_WITHIN_MS, sinceNs: t, describe: 'released' });
  });

  it('reset() is a real reset: pins tri-state, the firmware boots again; the connected driver notices and takes over again', async function () {
    // The input test closed the driver to talk raw Firmata on the port: connect it again.
    if (board.state !== 'ready') {
      board = newBoard();
      await board.open();
      await avr.rxIdle({ withinMs: PIN_WITHIN_MS });
    }
    const faults: string[] = [];
    board.onFault((f) => faults.push(f.message));
    const t0 = process.hrtime.bigint();
    await avr.reset();
    expect(avr.boots).to.equal(2);
    // Reset tri-states every pin before the firmware runs; boot 2's first record of each pin says so.
    for (const o of outputs) {
      const first = avr.history(o.pin).find((c) => c.boot === 2);
      if (first) expect(first.state, `pin ${o.pin} first state after reset`).to.equal('input');
      else expect(avr.history(o.pin).at(-1)?.state, `pin ${o.pin} unchanged by reset`).to.equal('input');
    }
    // The firmware blinks its version on the LED and reports it again, unasked; then its
    // systemResetCallback() drives D2–D13 LOW: every active-low relay energised again.
    await Promise.all(
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((pin) => avr.waitForPin(pin, (s) => s === 'low', { withinMs: BOOT_WITHIN_MS, sinceNs: t0, describe: 'OUTPUT LOW (boot state)' })),
    );
    const lowAt = avr.history(2, t0).find((c) => c.state === 'low')!;
    const versionAt = versionReportAt(t0);
    expect(versionAt, 'REPORT_VERSION after reset').to.not.equal(undefined);
    expect(Number(versionAt! - t0) / 1e6, 'version report after the ~2 s blink').to.be.above(1000);
    expect(lowAt.simNs, 'pins driven LOW after the blink, in simulated time').to.be.above(1.5e9);
    const blink = avr.history(13, t0).filter((c) => c.boot === 2 && c.state === 'high');
    expect(blink.length, `LED pulses after reset (${fmt(avr.history(13, t0))})`).to.be.at.least(2);

    // The driver that stayed connected hears the unsolicited version report: a RigFault for the
    // running test, and every relay taken over again.
    const t1 = Date.now();
    while (board.recoveries < 1 || board.state !== 'ready') {
      if (Date.now() - t1 > BOOT_WITHIN_MS) throw new Error(`no recovery within ${BOOT_WITHIN_MS} ms (state ${board.state})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(faults).to.have.length(1);
    expect(faults[0]).to.match(/^relays-avr: the relay board rebooted mid-run \(new version report on /);
    await avr.rxIdle({ withinMs: PIN_WITHIN_MS });
    for (const o of outputs) expect(isHeldReleased(o, avr.pinState(o.pin)), `pin ${o.pin} released after the re-takeover: ${fmt(avr.history(o.pin, t0))}`).to.equal(true);
    // The firmware's boot state energised the active-low relays until the driver's bytes arrived:
    // a host round trip, not seconds.
    const released = avr.history(2, t0).find((c) => c.simNs > lowAt.simNs && c.state !== 'low')!;
    expect(released, `pin 2 released after the reset (${fmt(avr.history(2, t0))})`).to.not.equal(undefined);
    expect((released.simNs - lowAt.simNs) / 1e6, 'ms an active-low relay stayed energised after the reset').to.be.below(500);
    // And it drives outputs again.
    const out = board.output(2);
    const t2 = process.hrtime.bigint();
    await out.set(true);
    await avr.waitForPin(2, (s) => s === 'low', { withinMs: PIN_WITHIN_MS, sinceNs: t2, describe: 'energised after recovery' });
    await out.set(false);
    await avr.waitForPin(2, (s) => s === 'high', { withinMs: PIN_WITHIN_MS, sinceNs: t2, describe: 'released after recovery' });
  });

  it('kept to the host clock: never ahead of it, and not far behind', function () {
    const s = avr.stats();
    expect(s.boots).to.equal(2);
    expect(s.simulatedMs, `simulated vs wall: ${JSON.stringify(s)}`).to.be.at.most(s.wallMs + 1);
    // Slack for a loaded 2-core machine; an idle one shows simulated ≈ wall minus tens of ms of JIT warm-up.
    expect(s.simulatedMs / s.wallMs, `simulated/wall ratio: ${JSON.stringify(s)}`).to.be.above(0.5);
  });
});
