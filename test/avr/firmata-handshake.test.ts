/**
 * The Firmata handshake against the REAL StandardFirmata firmware in avr8js, when an earlier host
 * left the board's parser in an unfinished message (killed mid-write, a cable pulled): the board
 * is healthy, and the driver must connect to it, not blame the firmware or the bench.
 */
import { expect } from 'chai';
import { SerialPort } from 'serialport';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { FirmataBoard } from '../../harness/hw/firmata-board.ts';
import { AvrFirmataBoard } from '../../harness/sim/avr/avr-board.ts';
import { ensureStandardFirmataHex } from '../../harness/sim/avr/hex.ts';

const START_SYSEX = 0xf0;
const PIN_STATE_QUERY = 0x6d;

/** An earlier host that wrote `bytes` and went away. */
async function earlierHostWrote(path: string, bytes: number[]): Promise<void> {
  const port = new SerialPort({ path, baudRate: 57600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  port.write(Buffer.from(bytes));
  await new Promise<void>((resolve) => port.drain(() => resolve()));
  await new Promise<void>((resolve) => port.close(() => resolve()));
}

describe('FirmataBoard handshake with real StandardFirmata left mid-message (avr8js)', function () {
  this.timeout(30_000);
  let avr: AvrFirmataBoard;
  let board: FirmataBoard | undefined;

  before(async function () {
    this.timeout(90_000); // npm pack on first run
    avr = await AvrFirmataBoard.start({ hexPath: await ensureStandardFirmataHex() });
    // Past the version blink: the firmware is in its loop, reading the port.
    await new Promise<void>((resolve) => avr.once('tx', () => resolve()));
  });

  afterEach(async function () {
    await board?.close();
    board = undefined;
  });

  after(async function () {
    await avr?.stop();
  });

  it('connects although an unfinished sysex message swallowed its first version query', async function () {
    // A PIN_STATE_QUERY cut off after its command byte: the firmware waits for the rest, and takes
    // the next host's REPORT_VERSION and QUERY_FIRMWARE as its pin and END_SYSEX.
    await earlierHostWrote(avr.path, [START_SYSEX, PIN_STATE_QUERY]);
    await avr.rxIdle({ withinMs: 1000 });
    const log = new ObservationLog();
    board = new FirmataBoard({ name: 'relays-avr', port: { path: avr.path }, outputs: [{ pin: 2, activeLow: true, name: 'low-2' }], log, reportVersionTimeoutMs: 200, handshakeTimeoutMs: 5000 });
    await board.open();
    expect(board.state).to.equal('ready');
    expect(board.firmware).to.match(/^StandardFirmata\.ino 2\.\d+$/);
  });
});
