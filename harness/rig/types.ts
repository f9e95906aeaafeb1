import type { MechanicalLimits } from '../core/buttons.ts';
import type { RegexDecoderSpec } from '../core/decoders.ts';
import type { InvariantLimits } from '../core/invariants/types.ts';
import type { PowerContact } from '../core/power.ts';
import type { SetupStep } from './setup-steps.ts';

// Defined where they are enforced (core), named here with the rest of a rig.
export type { MechanicalLimits, PowerContact };

/**
 * How a rig names a serial port. Prefer a stable identity (`byId`, `serialNumber`): a USB
 * adapter's `/dev/ttyUSBn` number changes when devices re-enumerate, its by-id link does not.
 */
export interface PortSpec {
  /** A link name in `/dev/serial/by-id` (or a full path to one). */
  byId?: string;
  /** USB serial number (matched through `SerialPort.list()`, or the by-id names without udev). */
  serialNumber?: string;
  /** USB vendor/product ids (hex, e.g. `2341`), to narrow a serial-number match. */
  vendorId?: string;
  productId?: string;
  /** A plain device path (`/dev/ttyACM0`). */
  path?: string;
  /**
   * Simulated bench only: the name of a sim port (`pi`, `esp`, `relays-a`, …). Replaced by the
   * PTY path the sim reports when it starts.
   */
  sim?: string;
}

/** A Firmata board (Arduino running StandardFirmata) that drives relay modules. */
export interface BoardSpec {
  port: PortSpec;
  /** Default 57600 (StandardFirmata). */
  baudRate?: number;
  /** How long firmata-io waits for the boot version report before asking. Default 1000 ms. */
  reportVersionTimeoutMs?: number;
}

/** A device under test with a console. */
export interface DeviceSpec {
  port: PortSpec;
  /** Default 115200. */
  baudRate?: number;
  /** RegExp decoders for its free-form log lines (telemetry lines are always decoded). */
  decoders?: RegexDecoderSpec[];
  /** Extra death patterns for this device (the defaults always apply). */
  deathPatterns?: RegExp[];
  /**
   * A console line that says the device is ready for input (presses before it are lost).
   * Default: its first heartbeat (`hb` telemetry). At the start of a run, a device already up
   * (heartbeats with no boot line) is ready once it has beaten for its power spec's `bootMs`: its
   * ready line was printed before the console opened.
   */
  ready?: RegExp;
  /** Its bounded event queue (checked against `cap=` in telemetry). */
  queue?: { capacity: number };
  /** Its HTTP server, when it has one. `sim` means: the address the sim reports. */
  http?: { url: string } | { sim: string };
  /**
   * What its telemetry covers, when it does not print everything docs/telemetry.md lists.
   * `queue: false`: it prints no `q_put`/`q_drop`/`q_get` lines, so the queue invariants (bound,
   * exactly-once through the queue, FIFO order, drain, processing time) cannot be judged on it;
   * the run says so before anything moves and does not judge them. Default: everything.
   */
  telemetry?: { queue?: boolean };
}

/**
 * A link between two devices that carries state from one to the other (the Pi's UART to the
 * ESP). A causality rule (`invariants.causality`) needs a link from its `from` to its `to`.
 */
export interface DeviceLink {
  from: string;
  to: string;
  /** What it is, for messages (`UART /dev/serial0 115200`). */
  via?: string;
}

/** One relay channel wired across a panel button. */
export interface ButtonSpec {
  /** Board name. */
  board: string;
  /** Board pin driving the relay input. */
  pin: number;
  /** Relay module input polarity: true when a LOW input energises the coil. */
  activeLow: boolean;
  /** Device whose input the contact pulls (for reports). */
  device: string;
  /** The device's GPIO (BCM number on the Pi) the button is wired to. */
  gpio: number;
}

/** A relay switching a device's supply: which contact carries it (see {@link PowerContact}), and where. */
export interface PowerSpec extends PowerContact {
  board: string;
  pin: number;
  activeLow: boolean;
  /** How long the device takes to boot (to its first heartbeat), ms. */
  bootMs: number;
}


/** A complete bench description. Ports are the only thing that differ between sim and lab. */
export interface RigDefinition {
  name: string;
  description?: string;
  /** Set for the simulated bench: the harness starts it and fills in `sim` ports. */
  simulated?: boolean;
  boards: Record<string, BoardSpec>;
  devices: Record<string, DeviceSpec>;
  buttons: Record<string, ButtonSpec>;
  power: Record<string, PowerSpec>;
  limits: MechanicalLimits;
  /** Limits the invariants check (callback latency, heartbeats, causality, …); defaults otherwise. */
  invariants?: InvariantLimits;
  /**
   * The links between devices on this bench. When given, a causality rule with no link from its
   * `from` to its `to` is reported before the run as one the rig cannot judge, and not judged.
   * Unset: the rig does not say, and every rule is judged. On the simulated bench the sim says
   * which links it wires (the Pi's UART to the ESP exists only for its built-in panel firmware,
   * not for a `--dut-cmd` program); a `links` list here narrows that further.
   */
  links?: DeviceLink[];
  /**
   * How to bring a device to a known state (labgrid's strategies), by device name: what a
   * property asks for before each of its runs (`runProperty(…, { reset: ['pi'] })`), so a
   * counterexample reproduces from that state. Default: `'power-cycle'` for a device with a power
   * relay. A press sequence is cheaper where the firmware has one that resets it.
   */
  reset?: Record<string, ResetStrategy>;
  /**
   * Bench preparation, run before any port is opened (a flasher needs the ESP's port): flash the
   * ESP, deploy the panel firmware, … A step that still fails after its retries ends the run as
   * ERROR with its output.
   */
  setup?: SetupStep[];
  /**
   * Property-based tests on this rig: runs per property and the wall-clock budget per property
   * (shrinking included — it runs on the bench, so it costs bench time). `hil run --runs/--budget`
   * override these; each property's own defaults apply where neither says.
   */
  properties?: PropertySettings;
}

export interface PropertySettings {
  /** Runs per property. */
  runs?: number;
  /** Budget per property, ms; the best counterexample so far is reported when it runs out. */
  budgetMs?: number;
}

/**
 * `'power-cycle'`: off for the rig's minOffMs, on, wait until it says it is ready. `{ presses }`:
 * tap these buttons in order, each processed (its `done`) within `withinMs` (default 3000); a
 * device that does not take them is power-cycled instead, when it has a power relay.
 */
export type ResetStrategy = 'power-cycle' | { presses: string[]; withinMs?: number };

/** Identity helper that gives a rig file type checking and editor completion. */
export function defineRig(rig: RigDefinition): RigDefinition {
  return rig;
}
