/**
 * The actuation contract against the REAL StandardFirmata firmware in avr8js: one emulator for the
 * file (~2–3 s cold boot), read from the chip's own port registers.
 */
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { FirmataBoard } from '../../harness/hw/firmata-board.ts';
import { AvrFirmataBoard, type PinState } from '../../harness/sim/avr/avr-board.ts';
import { ensureStandardFirmataHex } from '../../harness/sim/avr/hex.ts';
import { actuationContract, type Channel } from '../contract/actuation-contract.ts';

/** Energised, by module polarity: active-low conducts on a LOW output; active-high on any HIGH (a pull-up included). */
const energised = (activeLow: boolean, s: PinState) => (activeLow ? s === 'low' : s === 'high' || s === 'pullup');

describe('actuation contract: real StandardFirmata (avr8js)', function () {
  this.timeout(30_000);
  actuationContract(async () => {
    const avr = await AvrFirmataBoard.start({ hexPath: await ensureStandardFirmataHex() });
    const log = new ObservationLog();
    // Both polarities on one board; pin 14 boots as an analog input (the case the takeover must not pulse).
    const owned = [
      { pin: 4, activeLow: true, name: 'low-4' },
      { pin: 14, activeLow: true, name: 'low-14' },
      { pin: 8, activeLow: false, name: 'high-8' },
    ];
    const board = new FirmataBoard({ name: 'relays-avr', port: { path: avr.path }, outputs: owned, log });
    await board.open();
    const pinOf = new Map<Channel, { pin: number; activeLow: boolean }>();
    const channels: Channel[] = owned.map((o) => {
      const c: Channel = { name: o.name, out: board.output(o.pin), activeLow: o.activeLow };
      pinOf.set(c, o);
      return c;
    });
    return {
      log,
      channels,
      limits: { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 50 },
      withinMs: 2000,
      changes: (ch, since) => {
        const { pin, activeLow } = pinOf.get(ch)!;
        // Collapse the firmware's intermediate states (input→pullup) to what the relay does.
        const out: Array<{ energised: boolean; hostNs: bigint }> = [];
        let last = energised(activeLow, avr.history(pin).filter((c) => c.hostNs < since).at(-1)?.state ?? 'input');
        for (const c of avr.history(pin, since)) {
          const e = energised(activeLow, c.state);
          if (e !== last) out.push({ energised: e, hostNs: c.hostNs });
          last = e;
        }
        return out;
      },
      close: () => board.close(),
      dispose: () => avr.stop(),
    };
  });
});
