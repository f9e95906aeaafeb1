/**
 * The avr8js runner itself, on the real StandardFirmata image: what a test sees when it wakes on a
 * pin change.
 */
import { expect } from 'chai';
import { AvrFirmataBoard } from '../../harness/sim/avr/avr-board.ts';
import { ensureStandardFirmataHex } from '../../harness/sim/avr/hex.ts';

describe('AvrFirmataBoard (avr8js runner)', function () {
  this.timeout(30_000);
  let avr: AvrFirmataBoard | undefined;

  afterEach(async function () {
    await avr?.stop();
    avr = undefined;
  });

  it('a pin change wakes its waiter only after every byte the firmware sent before it has been delivered', async function () {
    this.timeout(90_000); // npm pack on first run
    // A long lead puts the version report and the boot's pin writes a few ms later into one slice
    // of the worker, as a loaded host does when the worker catches up.
    avr = await AvrFirmataBoard.start({ hexPath: await ensureStandardFirmataHex(), leadMs: 50 });
    const sent: number[] = [];
    avr.on('tx', (bytes) => sent.push(...bytes));
    // StandardFirmata reports its version (0xF9) after the blink, then its systemResetCallback()
    // drives D2 LOW.
    await avr.waitForPin(2, (s) => s === 'low', { withinMs: 10_000, sinceNs: 0n, describe: 'OUTPUT LOW (boot state)' });
    expect(sent.indexOf(0xf9), `bytes sent when pin 2 went LOW: ${Buffer.from(sent).toString('hex')}`).to.be.at.least(0);
  });
});
