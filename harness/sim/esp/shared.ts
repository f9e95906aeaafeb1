// What the main thread and the firmware worker share: the boot parameters, the messages on the
// console/UART channel and a small shared-memory block. Nothing here keeps module state.
import type { MessagePort } from 'node:worker_threads';
import type { TruthRecord } from '../ground-truth.ts';
import type { EspFault } from './faults.ts';

/** Why the chip (re)started; printed by the ROM and in the `boot` telemetry line. */
export type ResetReason = 'poweron' | 'wdt';

/** Everything one boot of the firmware worker needs (`workerData`). */
export interface FirmwareBootData {
  /** Console/truth out, UART in. Transferred to the worker. */
  port: MessagePort;
  /** {@link SharedCore} memory. */
  shared: SharedArrayBuffer;
  fault: EspFault | undefined;
  /** Seed for this boot (the user's seed mixed with the boot number). */
  seed: number;
  /** Device clock parameters; `bootHostNs` is taken by the main thread at power-on/reset. */
  bootHostNs: bigint;
  offsetUs: number;
  driftPpm: number;
  host: string;
  /** Port to listen on; 0 picks one. */
  listenPort: number;
  eol: string;
  /** How often the idle task feeds the task watchdog, ms. */
  feedPeriodMs: number;
  /** Post ground-truth records (false when nobody records them). */
  wantTruth: boolean;
  resetReason: ResetReason;
}

/** Firmware worker → main thread. Posted in program order on one port. */
export type FirmwareMessage =
  | { t: 'out'; text: string; seq?: number }
  | { t: 'truth'; rec: TruthRecord }
  | { t: 'ready'; port: number };

/** Main thread → firmware worker. */
export type HostMessage = { t: 'uart'; line: string };

/** CPU states in {@link SharedCore.ctl}: the worker may print only while RUN. */
export const CPU_RUN = 0;
export const CPU_EMITTING = 1;
export const CPU_HALTED = 2;

/** Which firmware task holds the core (for the watchdog's "Tasks currently running" line). */
export const TASK_IDLE = 0;
export const TASK_ASYNC_TCP = 1;
export const TASK_LOOP = 2;
export const TASK_NAMES = ['IDLE', 'async_tcp', 'loopTask'] as const;

/** Slots of {@link SharedCore.clock}. */
export const FED_AT = 0;
export const BUSY_AT_FEED = 1;
export const BUSY_TOTAL = 2;
export const SECTION_START = 3;
export const LONGEST_SECTION = 4;

/**
 * Shared memory between the firmware worker and the main thread:
 * - `ctl[0]` CPU state. The worker flips RUN→EMITTING around each post and back; the main thread
 *   flips RUN→HALTED to stop the CPU (panic, power loss), so no line can slip out after the last
 *   one it drained.
 * - `ctl[1]` the task currently running on the core; `ctl[2]` the task of the longest section
 *   since the last feed, `clock[LONGEST_SECTION]` its length (who starved the idle task).
 * - `clock[FED_AT]` host ns at which the idle task last fed the task watchdog, and
 *   `clock[BUSY_AT_FEED]` the firmware's busy time then.
 * - `clock[BUSY_TOTAL]` ns the firmware tasks have held the core (completed sections), and
 *   `clock[SECTION_START]` host ns at which the running section began (0: none).
 */
export class SharedCore {
  static readonly BYTES = 64;
  readonly ctl: Int32Array;
  readonly clock: BigInt64Array;

  constructor(readonly sab: SharedArrayBuffer = new SharedArrayBuffer(SharedCore.BYTES)) {
    this.ctl = new Int32Array(sab, 0, 4);
    this.clock = new BigInt64Array(sab, 16, 6);
  }

  /** Firmware busy time (ns) up to `now`, the running section included. Never over-counts. */
  busyNs(now: bigint): bigint {
    // The worker clears SECTION_START before adding to BUSY_TOTAL; reading in the opposite order
    // can miss a section that ends in between, never count one twice.
    const total = Atomics.load(this.clock, BUSY_TOTAL);
    const start = Atomics.load(this.clock, SECTION_START);
    return total + (start !== 0n && now > start ? now - start : 0n);
  }

  /** The task that held the core longest since the last feed, the running section included. */
  hog(now: bigint): number {
    const current = Atomics.load(this.ctl, 1);
    const start = Atomics.load(this.clock, SECTION_START);
    if (current !== TASK_IDLE && start !== 0n && now - start >= Atomics.load(this.clock, LONGEST_SECTION)) return current;
    return Atomics.load(this.ctl, 2);
  }
}
