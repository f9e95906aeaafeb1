import type { RigFault } from './errors.ts';

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

/** An output line a relay board owns, with the level that leaves its relay released. */
export interface OwnedOutput {
  /** Where it is on the board: a pin number (Firmata), a coil address (Modbus), … */
  pin: number;
  /** Relay module input polarity: true when a LOW input energises the coil. */
  activeLow: boolean;
  /** Name for the observation log (the button or power channel). */
  name: string;
}

/**
 * What a board found when it took its outputs over, before it released anything:
 * - `boot`: every owned output as the board's reset leaves it: nothing was left by anyone.
 * - `set`: an earlier host set the outputs up; `energised` lists the relays it left energised.
 * - `unknown`: the board could not say.
 */
export interface TakeoverFinding {
  reason: string;
  state: 'boot' | 'set' | 'unknown';
  /** Owned outputs found driven to their energising level (only when `state` is `set`). */
  energised: OwnedOutput[];
}

/**
 * A board of relays the harness drives (a Firmata Arduino, a Modbus RTU relay module, …): what a
 * rig session needs from any of them. It owns a fixed set of outputs (the buttons' and power
 * lines' channels, given when it is built) and leaves every one of them released whenever it
 * takes a board over, halts or closes.
 */
export interface RelayBoard {
  /** Board name in the rig (`relays-a`); the `source` of its observations. */
  readonly name: string;
  readonly state: PartState;
  /** Where its port was found (resolved device path), once opened. */
  readonly foundAt: string | undefined;
  /** What the takeover at open (or after a reset) found; undefined before. */
  readonly found: TakeoverFinding | undefined;
  /** Why energising is refused ({@link halt}), or undefined. */
  readonly halted: string | undefined;
  /**
   * Find the port, connect, and release every owned output. Rejects with a RigFault naming the
   * port when it cannot (a BenchInUse when another process holds it).
   */
  open(): Promise<void>;
  /** Release every relay, let the commands go out, close the port. Safe to call twice. */
  close(): Promise<void>;
  /** A digital output on one of its owned outputs; throws a RigFault for any other. */
  output(pin: number): DigitalOutput;
  /** Refuse every energise from now on, for good (releases still go out), and release everything. Synchronous. */
  halt(reason: string): void;
  /** Drive every owned output to its released level. Synchronous: the commands are queued at once. */
  releaseAll(reason: string): void;
  /**
   * Last resort for process exit: release everything straight through the port's descriptor,
   * synchronously. Returns false when there is no open port to write to.
   */
  emergencyReleaseSync(reason: string): boolean;
  /** Hear about resets, lost ports and failed reconnects. Returns the unsubscribe function. */
  onFault(listener: (fault: RigFault) => void): () => void;
}
