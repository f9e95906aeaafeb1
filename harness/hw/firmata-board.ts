import fs from 'node:fs';
import { SerialPortStream } from '@serialport/stream';
import firmataIo, { type Firmata } from 'firmata-io';
import five, { type Board } from 'johnny-five';
import { retryWithBackoff } from '../core/backoff.ts';
import { systemClock } from '../core/clock.ts';
import { PartGone, RigFault, RunStoppedError, StateError } from '../core/errors.ts';
import type { DigitalOutput, OwnedOutput, PartState, RelayBoard, TakeoverFinding } from '../core/interfaces.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import type { PortSpec } from '../rig/types.ts';
import { eventLoopBinding } from './event-loop-binding.ts';
import { describePortSpec, resolvePort, type ResolveOptions } from './port-finder.ts';
import { benchInUse, isLockFailure } from './port-holder.ts';
import type { SerialBinding } from './serial-line-source.ts';

const { Firmata: FirmataIo } = firmataIo;

// Defined with the interface they belong to (core), named here where the tests and takeover look.
export type { OwnedOutput, TakeoverFinding };

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
  /**
   * After the port vanishes: keep trying to reopen it (re-resolving by-id links) for this long
   * before the board is `faulted`. Default 10,000 ms; 0 gives up at once.
   */
  reconnectWindowMs?: number;
  /** Every pin this board drives, released as soon as the handshake completes. */
  outputs: OwnedOutput[];
  log: ObservationLog;
  /** serialport binding. Default: the native one with event-loop reads. */
  binding?: SerialBinding;
  resolve?: ResolveOptions;
}

/** A pin's mode and level as the board reported them (Firmata PIN_STATE_RESPONSE). */
export interface PinReport {
  mode: number;
  /** For an output, the level last written; for an input, its pull-up. */
  state: number;
}

interface Connection {
  port: SerialPortStream;
  io: Firmata;
  j5: Board;
  path: string;
}

const DIGITAL_MESSAGE = 0x90;

/**
 * An Arduino running StandardFirmata, driven by johnny-five over firmata-io on a serialport 13
 * port (never johnny-five's own serialport 8; never its REPL or SIGINT handler, which exit the
 * process). StandardFirmata drives every digital pin LOW at boot, which energises an
 * active-low relay module: so the first thing after the handshake is driving every owned pin
 * to its released level.
 *
 * Board loss is watched for the whole run:
 * - a **reset** (supply dip, reset line, watchdog) shows as an unsolicited version report on the
 *   same port: the board is taken over again at once (modes, released levels);
 * - a **vanished port** (USB unplugged, adapter died) is reopened for `reconnectWindowMs`,
 *   handshaken and taken over again, or the board becomes `faulted`.
 * Either way every fault listener hears a {@link RigFault}: whatever test was running was
 * disturbed by the bench, not by the firmware.
 *
 * What a takeover finds (`found`): `boot` is every owned pin as StandardFirmata's reset leaves it
 * (digital pins OUTPUT LOW, analog pins analog inputs). Its LOW outputs energise active-low relays
 * until the release, as at every boot. The pins alone cannot tell one case apart: a board whose
 * every owned pin is a digital pin driving an active-low relay, all of them left energised,
 * reads as `boot`.
 */
export class FirmataBoard implements RelayBoard {
  readonly name: string;
  private st: PartState = 'idle';
  private conn: Connection | undefined;
  private readonly faultListeners = new Set<(fault: RigFault) => void>();
  /** Milliseconds from opening the port to johnny-five's `ready` (the last handshake). */
  handshakeMs = NaN;
  foundAt: string | undefined;
  /** Times the board was taken over again after a reset or a lost port. */
  recoveries = 0;
  /** Owned pins currently driven to their energising level. */
  private readonly energised = new Set<number>();
  /** Owned pins in OUTPUT mode (the others are inputs held released by their pull-up). */
  private readonly outputMode = new Set<number>();
  /** Set by {@link halt}: from then on every energise is refused (releases still go out). */
  private haltedBy: string | undefined;
  /** What the last takeover found (see {@link TakeoverFinding}); after open(), the handshake's. */
  found: TakeoverFinding | undefined;

  constructor(private readonly options: FirmataBoardOptions) {
    this.name = options.name;
  }

  get state(): PartState {
    return this.st;
  }

  /** Firmware name and version the board reported. */
  get firmware(): string {
    const f = this.conn?.io.firmware;
    return f?.name ? `${f.name} ${f.version?.major ?? '?'}.${f.version?.minor ?? '?'}` : 'unknown';
  }

  /** Hear about resets, lost ports and failed reconnects. Returns the unsubscribe function. */
  onFault(listener: (fault: RigFault) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  private fault(error: RigFault): void {
    for (const l of [...this.faultListeners]) {
      try {
        l(error);
      } catch {
        // a listener's own failure must not stop the others
      }
    }
  }

  async open(): Promise<void> {
    if (this.st !== 'idle' && this.st !== 'closed') throw new StateError(this.name, this.st, 'open');
    this.st = 'opening';
    try {
      await this.connect();
      this.st = 'ready';
      this.options.log.record(this.name, 'board_ready', { path: this.foundAt ?? '', firmware: this.firmware, handshake_ms: +this.handshakeMs.toFixed(1) });
    } catch (error) {
      this.st = 'faulted';
      await this.dropConnection();
      throw error;
    }
  }

  /** Find the port, open it, handshake, take every owned pin over glitch-free, watch for loss. */
  private async connect(): Promise<void> {
    const t0 = process.hrtime.bigint();
    const resolved = await resolvePort(this.name, this.options.port, { verifyPath: this.options.binding === undefined, ...this.options.resolve });
    this.foundAt = resolved.path;
    const port = new SerialPortStream({ binding: this.options.binding ?? eventLoopBinding, path: resolved.path, baudRate: this.options.baudRate ?? 57600, autoOpen: false });
    port.on('error', (error: Error) => this.options.log.record(this.name, 'port_error', { error: error.message }));
    const askEveryMs = this.options.reportVersionTimeoutMs ?? 1000;
    const io = new FirmataIo(port, { reportVersionTimeout: askEveryMs });
    // Built before the port opens: firmata-io connects once, on the port's `open`.
    const deadline = this.options.handshakeTimeoutMs ?? 10_000;
    const j5 = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: deadline });
    // johnny-five's own connect timer is not cancelled when our deadline fails the handshake: it
    // fires later and emits 'error', which, unheard, throws and ends the whole process.
    j5.on('error', (e: { message?: string } | undefined) => this.options.log.record(this.name, 'port_error', { error: `johnny-five: ${e?.message ?? 'error'}` }));
    const conn: Connection = { port, io, j5, path: resolved.path };
    this.conn = conn;
    // firmata-io asks for the version once, askEveryMs after it was built. A board whose parser an
    // earlier host left inside an unfinished sysex message takes that question as the rest of it
    // (its END_SYSEX ends the message) and answers nothing: ask again until the version comes.
    // Every question sent before the version arrives is answered before the capability query
    // that follows it, so the extra answers all arrive during the handshake, never after it.
    let asked = 0;
    const reask = setInterval(() => {
      if (io.versionReceived) clearInterval(reask);
      else if (asked++ > 0) {
        io.reportVersion(() => undefined);
        io.queryFirmware(() => undefined);
      }
    }, askEveryMs);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(reask);
        reject(new RigFault(`${this.name}: no Firmata handshake within ${deadline} ms on ${resolved.path} (${describePortSpec(this.options.port)}). Is StandardFirmata flashed, and nothing else holding the port?`, this.name));
      }, deadline);
      j5.once('ready', () => {
        clearTimeout(timer);
        clearInterval(reask);
        resolve();
      });
      port.open((err) => {
        if (err) {
          clearTimeout(timer);
          clearInterval(reask);
          if (isLockFailure(err)) reject(benchInUse(this.name, resolved.path, describePortSpec(this.options.port), err));
          else reject(new RigFault(`${this.name}: cannot open ${resolved.path} (${describePortSpec(this.options.port)}): ${err.message}`, this.name, { cause: err }));
        }
      });
    });
    this.handshakeMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await this.takeOver(conn, 'handshake');
    // From here on, a version report nobody asked for means the board rebooted.
    io.on('reportversion', () => this.onReset(conn));
    port.on('close', (err?: Error & { disconnected?: boolean }) => this.onPortClosed(conn, err));
  }

  /**
   * Take every owned pin over without energising a relay, even for a millisecond, and say what was
   * found. What that takes depends on the pin's current mode, so it is asked for (PIN_STATE_QUERY)
   * rather than assumed:
   *
   * 0. The queries go out first, and the released levels right behind them without waiting: the
   *    board answers in order, so the answers are the state the pins were left in (relays a killed
   *    run left energised), and the release is not delayed by the round trip.
   * 1. With no mode change, every released level is written: a pin StandardFirmata booted as
   *    OUTPUT LOW (D2–D13; an energised active-low relay) is released at once.
   * 2. A pin already OUTPUT needs nothing more.
   * 3. An active-low pin in another mode (A0–A5 boot as analog inputs) becomes INPUT with its
   *    pull-up (the HIGH write): held released. It turns OUTPUT only on its first energise.
   *    Switching it to OUTPUT now would pulse the coil: StandardFirmata 2.4 (the prebuilt Uno
   *    image) writes LOW before it sets OUTPUT — the real firmware in avr8js showed 1–14 ms.
   * 4. An active-high pin in another mode: INPUT, LOW, OUTPUT — LOW is its released level anyway.
   */
  private async takeOver(conn: Connection, reason: string): Promise<void> {
    this.options.log.record(this.name, 'takeover', { reason, pins: this.options.outputs.length });
    const asked = this.queryPins(conn);
    for (const o of this.options.outputs) conn.j5.digitalWrite(o.pin, o.activeLow ? 1 : 0);
    this.energised.clear();
    const pins = await asked;
    this.found = this.judgeFound(conn, pins, reason);
    const f = this.found;
    this.options.log.record(this.name, 'takeover_found', {
      reason,
      state: f.state,
      energised: f.energised.map((o) => `${o.name} (pin ${o.pin})`).join(', '),
      count: f.energised.length,
    });
    for (const o of this.options.outputs) {
      const mode = pins.get(o.pin)?.mode;
      if (mode === five.Pin.OUTPUT) {
        this.outputMode.add(o.pin);
      } else if (o.activeLow) {
        if (mode !== five.Pin.INPUT) conn.j5.pinMode(o.pin, five.Pin.INPUT);
        conn.j5.digitalWrite(o.pin, 1);
        this.outputMode.delete(o.pin);
      } else {
        conn.j5.pinMode(o.pin, five.Pin.INPUT);
        conn.j5.digitalWrite(o.pin, 0);
        conn.j5.pinMode(o.pin, five.Pin.OUTPUT);
        this.outputMode.add(o.pin);
      }
    }
    this.releaseOn(conn, reason);
    // Resolve once the released state is handed to the OS, not merely queued in the stream: what
    // follows (a test, a press) starts from relays that are really released.
    await new Promise<void>((resolve) => conn.port.drain(() => resolve()));
  }

  /**
   * Boot state (StandardFirmata's reset: analog-capable pins ANALOG, the other digital pins OUTPUT,
   * every state 0) on every owned pin, or the relays an earlier host left energised.
   */
  private judgeFound(conn: Connection, pins: Map<number, PinReport>, reason: string): TakeoverFinding {
    const outs = this.options.outputs;
    if (outs.length === 0 || outs.some((o) => !pins.has(o.pin))) return { reason, state: 'unknown', energised: [] };
    const analog = (pin: number): boolean => (conn.io.pins[pin]?.analogChannel ?? 127) !== 127;
    const boot = outs.every((o) => {
      const r = pins.get(o.pin)!;
      return r.state === 0 && r.mode === (analog(o.pin) ? five.Pin.ANALOG : five.Pin.OUTPUT);
    });
    if (boot) return { reason, state: 'boot', energised: [] };
    const energised = outs.filter((o) => {
      const r = pins.get(o.pin)!;
      return r.mode === five.Pin.OUTPUT && r.state === (o.activeLow ? 0 : 1);
    });
    return { reason, state: 'set', energised };
  }

  /**
   * Ask every owned pin's mode and level. The queries are written before this returns; the
   * answers come back in order. A pin the board does not answer for (within `withinMs`) is missing.
   */
  private queryPins(conn: Connection, withinMs = 1000): Promise<Map<number, PinReport>> {
    const found = new Map<number, PinReport>();
    return Promise.all(
      this.options.outputs.map(
        (o) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              conn.io.removeListener(`pin-state-${o.pin}`, done);
              resolve();
            }, withinMs);
            const done = (): void => {
              clearTimeout(timer);
              // Read at once: the emitter sets these just before it emits.
              const p = conn.io.pins[o.pin];
              if (p?.mode !== undefined) found.set(o.pin, { mode: p.mode, state: p.state ?? 0 });
              resolve();
            };
            conn.io.queryPinState(o.pin, done);
          }),
      ),
    ).then(() => found);
  }

  private releaseOn(conn: Connection, reason: string): void {
    for (const o of this.options.outputs) conn.j5.digitalWrite(o.pin, o.activeLow ? 1 : 0);
    this.energised.clear();
    this.options.log.record(this.name, 'release_all', { reason, pins: this.options.outputs.length });
  }

  private onReset(conn: Connection): void {
    if (conn !== this.conn || this.st !== 'ready') return;
    this.st = 'reconnecting';
    this.options.log.record(this.name, 'board_reset', { path: conn.path });
    // StandardFirmata's setup() has already driven its pins to the boot state (OUTPUT LOW): every
    // active-low relay is energised until these bytes arrive.
    void this.takeOver(conn, 'after board reset').then(() => {
      if (conn !== this.conn || this.st !== 'reconnecting') return;
      this.recoveries++;
      this.st = 'ready';
      this.options.log.record(this.name, 'board_recovered', { how: 'reset: pins taken over again', path: conn.path });
    });
    this.fault(
      new RigFault(
        `${this.name}: the relay board rebooted mid-run (new version report on ${conn.path}: reset line, supply dip or brown-out). ` +
          `Its relays were energised by the firmware's boot state until the harness released them again; ` +
          `presses in flight were disturbed. This is a bench fault, not a firmware one.`,
        this.name,
      ),
    );
  }

  private onPortClosed(conn: Connection, err?: Error & { disconnected?: boolean }): void {
    if (conn !== this.conn || this.st === 'closing' || this.st === 'closed') return;
    this.st = 'reconnecting';
    const reason = err?.message ?? 'closed';
    this.options.log.record(this.name, 'board_lost', { path: conn.path, reason });
    this.fault(new RigFault(`${this.name}: lost the relay board's port ${conn.path} (${reason}); reconnecting for up to ${this.options.reconnectWindowMs ?? 10_000} ms`, this.name));
    void this.reconnect(conn);
  }

  private async reconnect(lost: Connection): Promise<void> {
    this.conn = undefined;
    lost.io.removeAllListeners('reportversion');
    const windowMs = this.options.reconnectWindowMs ?? 10_000;
    // At once, then after 50, 100, … 1000 ms, for as long as the window allows.
    const end = await retryWithBackoff(
      systemClock,
      async () => {
        try {
          await this.connect();
        } catch (error) {
          await this.dropConnection();
          throw error;
        }
      },
      { initialMs: 50, maxMs: 1000, immediateFirst: true, windowMs, wanted: () => this.st === 'reconnecting' },
    ).done;
    if (end.ok) {
      if (this.st !== 'reconnecting') {
        // closed while we were handshaking
        await this.dropConnection();
        return;
      }
      this.recoveries++;
      this.st = 'ready';
      this.options.log.record(this.name, 'board_recovered', { how: 'port reopened, handshake and takeover', path: this.foundAt ?? '', handshake_ms: +this.handshakeMs.toFixed(1) });
      return;
    }
    if (this.st !== 'reconnecting') return;
    this.st = 'faulted';
    const last = end.last;
    const why = last instanceof Error ? last.message : String(last);
    this.options.log.record(this.name, 'board_faulted', { reason: why });
    this.fault(new PartGone(`${this.name}: the relay board did not come back within ${windowMs} ms (${describePortSpec(this.options.port)}); last attempt: ${why}`, this.name));
  }

  /**
   * The run is stopping: refuse every energise from now on, for good (releases still go out), and
   * release everything. Synchronous, so nothing queued after this call can energise a relay.
   */
  halt(reason: string): void {
    this.haltedBy ??= reason;
    this.releaseAll(reason);
  }

  /** Why energising is refused ({@link halt}), or undefined. */
  get halted(): string | undefined {
    return this.haltedBy;
  }

  /** Drive every owned pin to its released level. Synchronous: the bytes are queued on the port at once. */
  releaseAll(reason: string): void {
    if (this.conn && this.st === 'ready') this.releaseOn(this.conn, reason);
  }

  /**
   * Last resort, for process exit and a second Ctrl-C: write the released levels straight to the
   * port's descriptor, synchronously, bypassing every queue. Returns false when there is no open
   * port to write to.
   */
  emergencyReleaseSync(reason: string): boolean {
    const conn = this.conn;
    const fd = (conn?.port.port as { fd?: number | null } | undefined)?.fd;
    if (!conn || fd === undefined || fd === null) return false;
    const ports = new Set<number>();
    for (const o of this.options.outputs) ports.add(conn.io.updateDigitalPort(o.pin, o.activeLow ? 1 : 0));
    this.energised.clear();
    let ok = true;
    for (const p of ports) {
      const v = conn.io.ports[p] ?? 0;
      const bytes = Buffer.from([DIGITAL_MESSAGE | p, v & 0x7f, (v >> 7) & 0x7f]);
      let written = 0;
      for (let tries = 0; written < bytes.length && tries < 1000; tries++) {
        try {
          written += fs.writeSync(fd, bytes, written);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') {
            ok = false;
            break;
          }
        }
      }
    }
    this.options.log.record(this.name, 'release_all', { reason, pins: this.options.outputs.length, sync: 1 });
    return ok;
  }

  /** A digital output on one of this board's owned pins. */
  output(pin: number): FirmataDigitalOutput {
    const o = this.options.outputs.find((x) => x.pin === pin);
    if (!o) throw new RigFault(`${this.name}: pin ${pin} is not one of this board's outputs (${this.options.outputs.map((x) => x.pin).join(', ')})`, this.name);
    return new FirmataDigitalOutput(this, o, (level) => this.drive(o, level), this.options.log);
  }

  private drive(o: OwnedOutput, level: 0 | 1): void {
    const conn = this.conn;
    if (!conn) return;
    const energise = (level === 0) === o.activeLow;
    if (energise && this.haltedBy !== undefined) throw new RunStoppedError(`${this.name} pin ${o.pin} (${o.name}): energise`, this.haltedBy);
    // An active-low pin held released by its pull-up becomes an output when it is first energised.
    if (energise && !this.outputMode.has(o.pin)) {
      conn.j5.pinMode(o.pin, five.Pin.OUTPUT);
      this.outputMode.add(o.pin);
    }
    conn.j5.digitalWrite(o.pin, level);
    if (energise) this.energised.add(o.pin);
    else this.energised.delete(o.pin);
  }

  /** Whether an owned pin is currently driven to energise its relay. */
  isEnergised(pin: number): boolean {
    return this.energised.has(pin);
  }

  /** Release every relay, let the bytes go out, close the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.st === 'closed' || this.st === 'idle') {
      this.st = 'closed';
      return;
    }
    const wasReady = this.st === 'ready';
    this.st = 'closing';
    try {
      if (wasReady && this.conn) this.releaseOn(this.conn, 'close');
    } catch {
      // a board already gone cannot be released; closing still proceeds
    }
    await this.dropConnection();
    this.st = 'closed';
  }

  private async dropConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    conn.io.removeAllListeners('reportversion');
    const port = conn.port;
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => port.drain(() => resolve()));
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

/** One relay input on a Firmata board. `set(true)` energises the relay whatever the module's polarity. */
export class FirmataDigitalOutput implements DigitalOutput {
  readonly name: string;

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
    return this.board.isEnergised(this.spec.pin);
  }

  set(active: boolean): Promise<void> {
    if (this.board.state !== 'ready') {
      return Promise.reject(new StateError(`${this.board.name} pin ${this.spec.pin} (${this.name})`, this.board.state, active ? 'energise' : 'release'));
    }
    const level: 0 | 1 = active === this.spec.activeLow ? 0 : 1;
    // Stamped before the write: the process can be preempted between the write and anything
    // after it, and a stamp taken after could then be later than the contact the write made.
    const t = this.log.clock.now();
    try {
      this.drive(level);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.log.append({ t, source: this.board.name, kind: 'output', fields: { pin: this.spec.pin, name: this.name, active: active ? 1 : 0, level } });
    return Promise.resolve();
  }
}
