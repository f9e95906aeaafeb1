/**
 * What the AVR worker and {@link AvrFirmataBoard} share: messages, the shared-memory layout and
 * the Uno pin map. No imports of Node I/O, so the worker stays small.
 */

/** Core clock of an Uno. */
export const F_CPU = 16_000_000;
/** Arduino pins D0–D13 and A0–A5 (14–19). */
export const PIN_COUNT = 20;

/**
 * What a pin does, as on the chip: `low`/`high` driven as an output; `input` floating (high
 * impedance); `pullup` input with the internal pull-up on (a weak HIGH).
 */
export type PinState = 'low' | 'high' | 'input' | 'pullup';
export const PIN_STATES: readonly PinState[] = ['low', 'high', 'input', 'pullup'];

/** Arduino pin → AVR port letter and bit: D0–7 = PORTD0–7, D8–13 = PORTB0–5, A0–A5 = PORTC0–5. */
export function portOf(pin: number): { port: 'B' | 'C' | 'D'; bit: number } {
  if (!Number.isInteger(pin) || pin < 0 || pin >= PIN_COUNT) throw new RangeError(`Uno pin must be an integer 0–19 (D0–D13, A0–A5 = 14–19), got ${pin}`);
  if (pin < 8) return { port: 'D', bit: pin };
  if (pin < 14) return { port: 'B', bit: pin - 8 };
  return { port: 'C', bit: pin - 14 };
}

/** Indexes into {@link WorkerData.stats} (a Float64Array on a SharedArrayBuffer). */
export const STAT = {
  /** Simulated ns since the first boot, summed over resets. */
  SIM_NS: 0,
  /** Host ns the worker spent executing instructions. */
  BUSY_NS: 1,
  /** Simulated time given up because the host could not keep up (ns). */
  SLIP_NS: 2,
  /** Completed boots (1 after start, +1 per reset). */
  BOOTS: 3,
  /** Host ns (process.hrtime) of the last stats update. */
  UPDATED_NS: 4,
  /** Slices run. */
  SLICES: 5,
  /** Host bytes the USART has fully received (or lost while its receiver was off). */
  RX_DONE: 6,
  /** {@link STAT.SIM_NS} time at which the last of them was done. */
  RX_DONE_SIM_NS: 7,
} as const;
export const STAT_SLOTS = 8;

export interface WorkerData {
  /** Flash image, 16,384 words. */
  program: Uint16Array;
  /** Float64Array view, {@link STAT} slots. */
  stats: SharedArrayBuffer;
  /** Uint8Array view: [0, PIN_COUNT) pin state index into {@link PIN_STATES}; [PIN_COUNT, 2·PIN_COUNT) the level the firmware reads (PINx). */
  pins: SharedArrayBuffer;
  /** Int32Array of one cell the main thread notifies to wake the worker early from its pacing sleep. */
  wake: SharedArrayBuffer;
  /** How far simulated time may run ahead of the host clock before the worker sleeps (ns). */
  leadNs: number;
  /** Behind by more than this (ns), the worker stops catching up and records slip. */
  maxLagNs: number;
}

/** Main → worker. */
export type HostMessage =
  | { t: 'rx'; bytes: Uint8Array }
  | { t: 'input'; pin: number; level: 0 | 1 | null }
  | { t: 'reset' };

/** One pin state change: [pin, state index, simulated ns since this boot, host ns]. */
export type PinChangeTuple = [number, number, number, bigint];

/** Worker → main. */
export type WorkerMessage =
  /**
   * What the firmware did in one slice: its pin changes and the bytes it transmitted (sent at
   * host time `hostNs`), in one message so the host sees both at once.
   */
  | { t: 'out'; boot: number; changes: PinChangeTuple[]; tx: Uint8Array | undefined; hostNs: bigint }
  | { t: 'boot'; boot: number; hostNs: bigint };
