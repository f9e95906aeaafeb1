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
  /** Task-watchdog timeout, ms of device time: the core busy this long without a gap resets the chip. */
  wdtTimeoutMs: number;
  /** Post ground-truth records (false when nobody records them). */
  wantTruth: boolean;
  resetReason: ResetReason;
}

/** Firmware worker → main thread. Posted in program order on one port. */
export type FirmwareMessage =
  | { t: 'out'; text: string; seq?: number }
  | { t: 'truth'; rec: TruthRecord }
  | { t: 'ready'; port: number }
  /** The modelled task watchdog fired at model time `at` (host ns); the firmware has stopped. */
  | { t: 'wdt'; at: bigint; running: string; starvedNs: bigint; lastSeq: number };

/** Main thread → firmware worker. */
export type HostMessage = { t: 'uart'; line: string };

/** CPU states in {@link SharedCore.ctl}: the worker may print only while RUN. */
export const CPU_RUN = 0;
export const CPU_EMITTING = 1;
export const CPU_HALTED = 2;

/** Which firmware task holds the core (for the watchdog's "Tasks currently running" line). */
export const TASK_ASYNC_TCP = 1;
export const TASK_LOOP = 2;
export const TASK_NAMES = ['IDLE', 'async_tcp', 'loopTask'] as const;

/**
 * Shared memory between the firmware worker and the main thread: `ctl[0]` is the CPU state. The
 * worker flips RUN→EMITTING around each post and back; the main thread flips RUN→HALTED to stop
 * the CPU (panic, power loss), so no line can slip out after the last one it drained.
 */
export class SharedCore {
  static readonly BYTES = 16;
  readonly ctl: Int32Array;

  constructor(readonly sab: SharedArrayBuffer = new SharedArrayBuffer(SharedCore.BYTES)) {
    this.ctl = new Int32Array(sab, 0, 4);
  }
}
