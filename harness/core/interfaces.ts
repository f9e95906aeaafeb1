/**
 * The capabilities a rig provides, named after what they do. Nothing in this file (or anywhere
 * in `harness/core`) imports serialport or johnny-five: the implementations live in
 * `harness/hw`, and the simulated and real benches plug in behind the same interfaces.
 */

/** Lifecycle of every rig part. Calls in the wrong state are refused with a message naming it. */
export type PartState = 'idle' | 'opening' | 'ready' | 'reconnecting' | 'closing' | 'closed' | 'faulted';

/** Counters a line source keeps for the whole run (they survive the log's window). */
export interface LineSourceStats {
  /** Bytes read from the port. */
  bytes: number;
  /** Complete lines delivered to the log. */
  lines: number;
  /** Lines cut at the length cap (the rest of each is in the raw log only). */
  truncated: number;
  /** Lines that held bytes that are not valid UTF-8 (shown as U+FFFD). */
  invalidUtf8: number;
  /** Lines that held NUL bytes (shown as U+2400 ␀). */
  nul: number;
  /** Times the port went away. */
  disconnects: number;
  /** Times it was reopened. */
  reconnects: number;
}

/**
 * A device console: turns bytes from a port into timestamped, decoded observations in the log.
 * Events go to the log (`line`, telemetry kinds, `disconnect`, `reconnect`, `truncated`).
 */
export interface LineSource {
  /** The device name; observations carry it as their `source`. */
  readonly name: string;
  readonly state: PartState;
  /** Where the port was found (resolved device path). */
  readonly foundAt: string | undefined;
  /** Open the port. Rejects with a RigFault that names the port when it cannot. */
  open(): Promise<void>;
  /** Stop reading, flush the raw log, close the port. Safe to call twice. */
  close(): Promise<void>;
  /** Send bytes to the device (a console that takes input). */
  write(data: string | Buffer): Promise<void>;
  stats(): LineSourceStats;
}

/**
 * One digital output line (a Firmata pin driving a relay input). `set(true)` means *active*:
 * whatever the hardware needs to energise (active-low modules are resolved by the implementation).
 */
export interface DigitalOutput {
  readonly name: string;
  readonly state: PartState;
  /** Drive the output active (true) or inactive (false). */
  set(active: boolean): Promise<void>;
  /** Last commanded value. */
  readonly active: boolean;
}

/** Switches a device's power. Built on a {@link DigitalOutput}. */
export interface PowerControl {
  readonly device: string;
  on(): Promise<void>;
  off(): Promise<void>;
  /** Off, wait at least the rig's minimum off time, on. */
  cycle(offMs?: number): Promise<void>;
  readonly isOn: boolean;
}
