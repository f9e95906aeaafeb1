import { SerialPortStream } from '@serialport/stream';
import firmataIo, { type Firmata } from 'firmata-io';
import five, { type Board } from 'johnny-five';
import { RigFault, StateError } from '../core/errors.ts';
import type { DigitalOutput, PartState } from '../core/interfaces.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import type { PortSpec } from '../rig/types.ts';
import { eventLoopBinding } from './event-loop-binding.ts';
import { describePortSpec, resolvePort, type ResolveOptions } from './port-finder.ts';
import type { SerialBinding } from './serial-line-source.ts';

const { Firmata: FirmataIo } = firmataIo;

/** An output line the board owns, with the level that leaves its relay released. */
export interface OwnedOutput {
  pin: number;
  /** Relay module input polarity: true when LOW energises the coil. */
  activeLow: boolean;
  /** Name for the observation log (the button or power channel). */
  name: string;
}

export interface FirmataBoardOptions {
  /** Board name (`relays-a`); the `source` of its observations. */
  name: string;
  port: PortSpec;
  /** Default 57600 (StandardFirmata). */
  baudRate?: number;
  /** How long firmata-io waits for the boot version report before asking. Default 1000 ms. */
  reportVersionTimeoutMs?: number;
  /** Whole handshake deadline. Default 10,000 ms (a real Uno resets on open and blinks ~2 s). */
  handshakeTimeoutMs?: number;
  /** Every pin this board drives, released as soon as the handshake completes. */
  outputs: OwnedOutput[];
  log: ObservationLog;
  /** serialport binding. Default: the native one with event-loop reads. */
  binding?: SerialBinding;
  resolve?: ResolveOptions;
}

/**
 * An Arduino running StandardFirmata, driven by johnny-five over firmata-io on a serialport 13
 * port (never johnny-five's own serialport 8; never its REPL or SIGINT handler, which exit the
 * process). StandardFirmata drives every digital pin LOW at boot, which energises an
 * active-low relay module: so the first thing after the handshake is driving every owned pin
 * to its released level.
 */
export class FirmataBoard {
  readonly name: string;
  private st: PartState = 'idle';
  private port: SerialPortStream | undefined;
  private io: Firmata | undefined;
  private j5: Board | undefined;
  private readonly levels = new Map<number, 0 | 1>();
  /** Milliseconds from opening the port to johnny-five's `ready`. */
  handshakeMs = NaN;
  foundAt: string | undefined;

  constructor(private readonly options: FirmataBoardOptions) {
    this.name = options.name;
  }

  get state(): PartState {
    return this.st;
  }

  /** Firmware name and version the board reported. */
  get firmware(): string {
    const f = this.io?.firmware;
    return f?.name ? `${f.name} ${f.version?.major ?? '?'}.${f.version?.minor ?? '?'}` : 'unknown';
  }

  async open(): Promise<void> {
    if (this.st !== 'idle' && this.st !== 'closed') throw new StateError(this.name, this.st, 'open');
    this.st = 'opening';
    const t0 = process.hrtime.bigint();
    try {
      const resolved = await resolvePort(this.name, this.options.port, { verifyPath: this.options.binding === undefined, ...this.options.resolve });
      this.foundAt = resolved.path;
      const port = new SerialPortStream({ binding: this.options.binding ?? eventLoopBinding, path: resolved.path, baudRate: this.options.baudRate ?? 57600, autoOpen: false });
      port.on('error', (error: Error) => this.options.log.record(this.name, 'port_error', { error: error.message }));
      this.port = port;
      const io = new FirmataIo(port, { reportVersionTimeout: this.options.reportVersionTimeoutMs ?? 1000 });
      this.io = io;
      // Built before the port opens: firmata-io connects once, on the port's `open`.
      const j5 = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: this.options.handshakeTimeoutMs ?? 10_000 });
      this.j5 = j5;
      const deadline = this.options.handshakeTimeoutMs ?? 10_000;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new RigFault(`${this.name}: no Firmata handshake within ${deadline} ms on ${resolved.path} (${describePortSpec(this.options.port)}). Is StandardFirmata flashed, and nothing else holding the port?`, this.name)),
          deadline,
        );
        j5.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
        port.open((err) => {
          if (err) {
            clearTimeout(timer);
            reject(new RigFault(`${this.name}: cannot open ${resolved.path} (${describePortSpec(this.options.port)}): ${err.message}`, this.name, { cause: err }));
          }
        });
      });
      this.handshakeMs = Number(process.hrtime.bigint() - t0) / 1e6;
      // Glitch-free takeover: OUTPUT mode keeps the pin's output latch, and StandardFirmata turns
      // a HIGH write on an INPUT pin into its pull-up (setting the latch). So: INPUT, released
      // level, OUTPUT. Going straight to OUTPUT drove analog-booted pins (14–19) LOW for ~0.5 ms,
      // a coil pulse on an active-low module.
      for (const o of this.options.outputs) {
        j5.pinMode(o.pin, five.Pin.INPUT);
        this.write(o.pin, o.activeLow ? 1 : 0);
        j5.pinMode(o.pin, five.Pin.OUTPUT);
      }
      this.releaseAll('handshake');
      this.st = 'ready';
      this.options.log.record(this.name, 'board_ready', { path: resolved.path, firmware: this.firmware, handshake_ms: +this.handshakeMs.toFixed(1) });
    } catch (error) {
      this.st = 'faulted';
      await this.closePort();
      throw error;
    }
  }

  private write(pin: number, level: 0 | 1): void {
    this.levels.set(pin, level);
    this.j5!.digitalWrite(pin, level);
  }

  /** Drive every owned pin to its released level. Synchronous: the bytes are queued on the port at once. */
  releaseAll(reason: string): void {
    if (!this.j5) return;
    for (const o of this.options.outputs) this.write(o.pin, o.activeLow ? 1 : 0);
    this.options.log.record(this.name, 'release_all', { reason, pins: this.options.outputs.length });
  }

  /** A digital output on one of this board's owned pins. */
  output(pin: number): FirmataDigitalOutput {
    const o = this.options.outputs.find((x) => x.pin === pin);
    if (!o) throw new RigFault(`${this.name}: pin ${pin} is not one of this board's outputs (${this.options.outputs.map((x) => x.pin).join(', ')})`, this.name);
    return new FirmataDigitalOutput(this, o, (level) => this.write(o.pin, level), this.options.log);
  }

  /** Release every relay, let the bytes go out, close the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.st === 'closed' || this.st === 'idle') {
      this.st = 'closed';
      return;
    }
    this.st = 'closing';
    try {
      this.releaseAll('close');
    } catch {
      // a board already gone cannot be released; closing still proceeds
    }
    await this.closePort();
    this.st = 'closed';
  }

  private async closePort(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (!port?.isOpen) return;
    await new Promise<void>((resolve) => port.drain(() => resolve()));
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

/** One relay input on a Firmata board. `set(true)` energises the relay whatever the module's polarity. */
export class FirmataDigitalOutput implements DigitalOutput {
  readonly name: string;
  private value = false;

  constructor(
    private readonly board: FirmataBoard,
    private readonly spec: OwnedOutput,
    private readonly drive: (level: 0 | 1) => void,
    private readonly log: ObservationLog,
  ) {
    this.name = spec.name;
  }

  get state(): PartState {
    return this.board.state;
  }

  get active(): boolean {
    return this.value;
  }

  set(active: boolean): Promise<void> {
    if (this.board.state !== 'ready') return Promise.reject(new StateError(`${this.board.name} pin ${this.spec.pin} (${this.name})`, this.board.state, active ? 'energise' : 'release'));
    const level: 0 | 1 = active === this.spec.activeLow ? 0 : 1;
    this.drive(level);
    this.value = active;
    this.log.record(this.board.name, 'output', { pin: this.spec.pin, name: this.name, active: active ? 1 : 0, level });
    return Promise.resolve();
  }
}
