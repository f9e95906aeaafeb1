import fs from 'node:fs';
import { SerialPortStream } from '@serialport/stream';
import modbusSerial from 'modbus-serial';
import crc16 from 'modbus-serial/utils/crc16.js';
import { PartGone, RigFault, RunStoppedError, StateError } from '../core/errors.ts';
import type { DigitalOutput, OwnedOutput, PartState, RelayBoard, TakeoverFinding } from '../core/interfaces.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import type { PortSpec } from '../rig/types.ts';
import { eventLoopBinding } from './event-loop-binding.ts';
import { RtuFramedPort, type RtuLineStats } from './modbus-rtu-port.ts';
import { describePortSpec, resolvePort, type ResolveOptions } from './port-finder.ts';
import { benchInUse, isLockFailure } from './port-holder.ts';
import type { SerialBinding } from './serial-line-source.ts';

export interface ModbusRelayBoardOptions {
  /** Board name (`relays-mb`); the `source` of its observations. */
  name: string;
  port: PortSpec;
  /** Every coil this board drives (`pin` is the coil address, 0-based as on the wire), released once the board answers. */
  outputs: OwnedOutput[];
  log: ObservationLog;
  /** Line speed. Default 9600 (what the cheap relay modules ship with). */
  baudRate?: number;
  /** Parity. Default `none` (8N1, the relay modules' default; the spec's default is even). */
  parity?: 'none' | 'even' | 'odd';
  /** Slave address, 1-247. Default 1. */
  unitId?: number;
  /** How long to wait for each answer, ms. Default 200 (the modules answer within ~10-50 ms at 9600 baud). */
  responseTimeoutMs?: number;
  /** Times a request that got no answer or a corrupted one is sent again (writes are idempotent). Default 2. */
  retries?: number;
  /** serialport binding. Default: the native one with event-loop reads. */
  binding?: SerialBinding;
  resolve?: ResolveOptions;
}

/** What the board's line saw over its life. */
export interface ModbusBoardStats extends RtuLineStats {
  /** Requests sent again after no answer, a corrupted answer, or an answer to another request. */
  retries: number;
  /** Requests that went unanswered within the timeout (each attempt). */
  timeouts: number;
  /** Answers that failed their CRC. */
  crcErrors: number;
  /** Exception answers (the board refused a request). */
  exceptions: number;
}

/** The Modbus exception codes a relay module can answer with, in a bench engineer's words. */
const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function: the module does not implement this function',
  2: 'illegal data address: a coil the module does not have (check the coil numbers: 0-based on the wire)',
  3: 'illegal data value',
  4: 'slave device failure',
  6: 'slave device busy',
};

type Op =
  | { kind: 'coil'; o: OwnedOutput; active: boolean; level: 0 | 1; resolve: () => void; reject: (e: Error) => void }
  | { kind: 'all'; reason: string; resolve: () => void; reject: (e: Error) => void };

interface Connection {
  port: RtuFramedPort;
  client: ModbusRTU;
  path: string;
}

// A CommonJS module whose `module.exports` is the client class and also its own `.default`: the
// types only describe `.default`.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const sleepSync = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, ms));

/**
 * A Modbus RTU relay module (the 8-/16-channel RS-485 boards; labgrid's `ModbusCoilDriver`): one
 * coil per relay, coil on = relay energised. Spoken through modbus-serial's client on the
 * project's serialport 13 stream ({@link RtuFramedPort}); function 5 writes one coil, 15 writes
 * the whole owned range at once (release all), 1 reads the coils at takeover.
 *
 * The same surface as {@link FirmataBoard}, so a rig can wire buttons and power to either, and
 * the same records in the observation log (`output` stamped before its write, `release_all`,
 * `takeover`, `takeover_found`, `board_ready`). `activeLow` on an output inverts the coil, as
 * labgrid's `invert` does (coil off energises).
 *
 * The bus is half-duplex, one request at a time: commands queue, and each `set()` resolves when
 * its frame goes on the line (as a Firmata write resolves once its bytes are queued), so what the
 * caller records next precedes anything the relay causes; {@link drained} waits for the module's
 * acknowledgements. A request with no answer or a corrupted one is sent again (`retries`); one
 * that still fails, or an exception answer, is a {@link RigFault} every fault listener hears
 * (and `modbus_error` in the log): the bench failed, not the firmware. Unlike StandardFirmata a
 * Modbus slave announces nothing when it resets, so a module that reboots mid-run is not seen.
 */
export class ModbusRelayBoard implements RelayBoard {
  readonly name: string;
  private st: PartState = 'idle';
  private conn: Connection | undefined;
  private readonly faultListeners = new Set<(fault: RigFault) => void>();
  private readonly unitId: number;
  private readonly baudRate: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  /** Lowest owned coil and how many coils the range spans (what a release-all writes). */
  private readonly lo: number;
  private readonly span: number;
  /** The coils of the range as last written or read (non-owned ones are written back as found). */
  private image: boolean[];
  private readonly energised = new Set<number>();
  private haltedBy: string | undefined;
  /** Set by {@link emergencyReleaseSync}: no request is sent again after it. */
  private emergency = false;
  private queue: Op[] = [];
  private busy = false;
  private idleWaiters: Array<() => void> = [];
  private readonly counts = { retries: 0, timeouts: 0, crcErrors: 0, exceptions: 0 };
  private readonly line: RtuLineStats = { requests: 0, frames: 0, strayBytes: 0 };
  /** Milliseconds from opening the port to the module's first answer. */
  handshakeMs = NaN;
  foundAt: string | undefined;
  /** Never incremented: a Modbus module that resets is not noticed (it announces nothing). */
  recoveries = 0;
  found: TakeoverFinding | undefined;

  constructor(private readonly options: ModbusRelayBoardOptions) {
    this.name = options.name;
    const unit = options.unitId ?? 1;
    if (!Number.isInteger(unit) || unit < 1 || unit > 247) throw new RigFault(`${options.name}: unitId must be a Modbus slave address 1-247, got ${String(unit)}`, options.name);
    for (const o of options.outputs) {
      if (!Number.isInteger(o.pin) || o.pin < 0 || o.pin > 0xffff) throw new RigFault(`${options.name}: ${o.name}: coil address must be an integer 0-65535, got ${String(o.pin)}`, options.name);
    }
    this.unitId = unit;
    this.baudRate = options.baudRate ?? 9600;
    this.timeoutMs = options.responseTimeoutMs ?? 200;
    this.retries = options.retries ?? 2;
    const pins = options.outputs.map((o) => o.pin);
    this.lo = pins.length > 0 ? Math.min(...pins) : 0;
    this.span = pins.length > 0 ? Math.max(...pins) - this.lo + 1 : 0;
    this.image = new Array<boolean>(this.span).fill(false);
  }

  get state(): PartState {
    return this.st;
  }

  get firmware(): string {
    return `Modbus RTU unit ${this.unitId}`;
  }

  /** What the line and the client saw: requests, frames, stray bytes, retries, timeouts, CRC errors, exceptions. */
  stats(): ModbusBoardStats {
    return { ...this.line, ...this.counts };
  }

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

  private get where(): string {
    return `unit ${this.unitId} on ${this.conn?.path ?? this.foundAt ?? describePortSpec(this.options.port)} (${this.baudRate} baud, ${this.options.parity ?? 'none'} parity)`;
  }

  async open(): Promise<void> {
    if (this.st !== 'idle' && this.st !== 'closed') throw new StateError(this.name, this.st, 'open');
    this.st = 'opening';
    try {
      const t0 = process.hrtime.bigint();
      await this.connect();
      await this.takeOver('handshake', t0);
      this.st = 'ready';
      this.options.log.record(this.name, 'board_ready', { path: this.foundAt ?? '', firmware: this.firmware, handshake_ms: +this.handshakeMs.toFixed(1) });
    } catch (error) {
      this.st = 'faulted';
      this.failQueued(error instanceof Error ? error : new Error(String(error)));
      await this.dropConnection();
      throw error;
    }
  }

  private async connect(): Promise<void> {
    const resolved = await resolvePort(this.name, this.options.port, { verifyPath: this.options.binding === undefined, ...this.options.resolve });
    this.foundAt = resolved.path;
    const stream = new SerialPortStream({
      binding: this.options.binding ?? eventLoopBinding,
      path: resolved.path,
      baudRate: this.baudRate,
      parity: this.options.parity ?? 'none',
      autoOpen: false,
    });
    const port = new RtuFramedPort(stream, this.line);
    const client = new ModbusRTU(port);
    client.setID(this.unitId);
    client.setTimeout(this.timeoutMs);
    // The client re-emits port errors; they are recorded, and a lost port shows as `close`.
    client.on('error', (error: unknown) => void this.options.log.record(this.name, 'port_error', { error: error instanceof Error ? error.message : String(error) }));
    const conn: Connection = { port, client, path: resolved.path };
    this.conn = conn;
    await new Promise<void>((resolve, reject) =>
      client.open((err: Error | null) => {
        if (!err) return resolve();
        if (isLockFailure(err)) reject(benchInUse(this.name, resolved.path, describePortSpec(this.options.port), err));
        else reject(new RigFault(`${this.name}: cannot open ${resolved.path} (${describePortSpec(this.options.port)}): ${err.message}`, this.name, { cause: err }));
      }),
    );
    stream.on('close', (err?: Error & { disconnected?: boolean }) => this.onPortClosed(conn, err));
  }

  /**
   * Read the owned coils (function 1) to say what an earlier session left energised, then release
   * them all at once (function 15). The first answer is the handshake: no answer means the module
   * is not there as the rig describes it.
   */
  private async takeOver(reason: string, t0: bigint): Promise<void> {
    this.options.log.record(this.name, 'takeover', { reason, pins: this.options.outputs.length });
    const conn = this.conn!;
    let read: boolean[] | undefined;
    if (this.span > 0) {
      try {
        const r = await this.transact('read coils (function 1)', () => conn.client.readCoils(this.lo, this.span));
        read = r.data.slice(0, this.span);
      } catch (e) {
        // A module without function 1 can still be driven: what it holds is unknown.
        if ((e as { modbusCode?: number }).modbusCode !== 1) throw e;
      }
    }
    this.handshakeMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const outs = this.options.outputs;
    if (!read || outs.length === 0) {
      this.found = { reason, state: 'unknown', energised: [] };
    } else {
      const coil = (o: OwnedOutput): boolean => read[o.pin - this.lo] === true;
      this.image = [...read];
      // A module boots with every coil off; anything else was set by an earlier host.
      if (outs.every((o) => !coil(o))) this.found = { reason, state: 'boot', energised: [] };
      else this.found = { reason, state: 'set', energised: outs.filter((o) => coil(o) === !o.activeLow) };
    }
    const f = this.found;
    this.options.log.record(this.name, 'takeover_found', { reason, state: f.state, energised: f.energised.map((o) => `${o.name} (coil ${o.pin})`).join(', '), count: f.energised.length });
    await new Promise<void>((resolve, reject) => this.enqueue({ kind: 'all', reason, resolve, reject }));
  }

  /**
   * One request with its retries. `send` is called synchronously on the first attempt (so a
   * caller's write is on the line when this returns its promise).
   */
  private async transact<T>(what: string, send: () => Promise<T>, answers?: (r: T) => string | undefined): Promise<T> {
    let last = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0 && this.emergency) throw new RunStoppedError(`${this.name}: ${what} (again)`, this.haltedBy ?? 'emergency release');
      if (attempt > 0) {
        this.counts.retries++;
        this.options.log.record(this.name, 'modbus_retry', { what, attempt, after: last });
      }
      let r: T;
      try {
        r = await send();
      } catch (e) {
        const err = e as Error & { errno?: string; modbusCode?: number };
        if (err.modbusCode !== undefined) {
          this.counts.exceptions++;
          const name = EXCEPTIONS[err.modbusCode] ?? 'unknown exception';
          throw Object.assign(new RigFault(`${this.name}: ${this.where} refused ${what} with exception ${String(err.modbusCode).padStart(2, '0')} (${name})`, this.name), { modbusCode: err.modbusCode });
        }
        if (err.errno === 'ETIMEDOUT') {
          this.counts.timeouts++;
          last = `no answer within ${this.timeoutMs} ms`;
        } else if (err.message === 'CRC error') {
          this.counts.crcErrors++;
          last = 'an answer that failed its CRC';
        } else if (/^(Data length|Unexpected data) error/.test(err.message)) {
          last = `a malformed answer (${err.message})`;
        } else {
          throw new RigFault(`${this.name}: ${what} on ${this.where} failed: ${err.message}`, this.name, { cause: e });
        }
        continue;
      }
      const wrong = answers?.(r);
      if (wrong === undefined) return r;
      last = `an answer to another request (${wrong})`;
    }
    const tries = this.retries + 1;
    if (this.counts.timeouts > 0 && last.startsWith('no answer')) {
      throw new RigFault(
        `${this.name}: no answer from Modbus unit ${this.unitId} within ${this.timeoutMs} ms to ${what} (${tries} tries) on ${this.where}: ` +
          `is the module powered, its address really ${this.unitId}, its baud rate and parity as the rig says, and the RS-485 A/B wires not swapped?`,
        this.name,
      );
    }
    throw new RigFault(
      `${this.name}: ${what} on ${this.where} failed ${tries} times, last with ${last} (${this.counts.crcErrors} CRC errors so far): ` +
        `noise on the RS-485 pair (termination, a missing ground), or a baud rate that almost matches`,
      this.name,
    );
  }

  // ------------------------------------------------------------------------------------ the queue

  private enqueue(op: Op): void {
    this.queue.push(op);
    this.pump();
  }

  /** Start the next command when the bus is free. Runs it synchronously up to its write. */
  private pump(): void {
    if (this.busy) return;
    const op = this.queue.shift();
    if (!op) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
      return;
    }
    const conn = this.conn;
    if (!conn) {
      op.reject(new StateError(this.name, this.st, op.kind === 'coil' ? `coil ${op.o.pin}` : 'release all'));
      this.pump();
      return;
    }
    this.busy = true;
    const done = this.run(conn, op);
    // A coil write counts as made once its frame is on the line, as a Firmata write once its bytes
    // are: the caller records its press right after, and that record must come before anything the
    // relay causes (an edge seen ~15 ms later would otherwise be logged first, and matched to the
    // press before). Whether the module acknowledged it is known one round trip later; when it
    // did not, every fault listener hears it (the bench failed) and the log says so.
    if (op.kind === 'coil') op.resolve();
    void done.then(
      () => {
        this.busy = false;
        if (op.kind === 'all') op.resolve();
        this.pump();
      },
      (e: unknown) => {
        this.busy = false;
        const err = e instanceof Error ? e : new Error(String(e));
        if (op.kind === 'all') op.reject(err);
        if (!(err instanceof RunStoppedError)) this.options.log.record(this.name, 'modbus_error', { error: err.message });
        if (err instanceof RigFault && this.st === 'ready') this.fault(err);
        this.pump();
      },
    );
  }

  private run(conn: Connection, op: Op): Promise<unknown> {
    const log = this.options.log;
    if (op.kind === 'coil') {
      const { o, level, active } = op;
      this.image[o.pin - this.lo] = level === 1;
      // Stamped before the write, recorded once the frame is on its way (as FirmataBoard does).
      const t = log.clock.now();
      const p = this.transact(`write coil ${o.pin} (${o.name}) ${level ? 'on' : 'off'} (function 5)`, () => conn.client.writeCoil(o.pin, level === 1), (r) =>
        r.address === o.pin && r.state === (level === 1) ? undefined : `coil ${r.address} ${r.state ? 'on' : 'off'}`,
      );
      log.append({ t, source: this.name, kind: 'output', fields: { pin: o.pin, name: o.name, active: active ? 1 : 0, level } });
      return p;
    }
    for (const o of this.options.outputs) this.image[o.pin - this.lo] = o.activeLow;
    this.energised.clear();
    if (this.span === 0) {
      log.record(this.name, 'release_all', { reason: op.reason, pins: 0 });
      return Promise.resolve();
    }
    const t = log.clock.now();
    const values = [...this.image];
    const p = this.transact(`release all (write coils ${this.lo}-${this.lo + this.span - 1}, function 15)`, () => conn.client.writeCoils(this.lo, values), (r) =>
      r.address === this.lo && r.length === this.span ? undefined : `coils ${r.address}+${r.length}`,
    );
    log.append({ t, source: this.name, kind: 'release_all', fields: { reason: op.reason, pins: this.options.outputs.length } });
    return p;
  }

  private failQueued(error: Error): void {
    const q = this.queue;
    this.queue = [];
    for (const op of q) op.reject(error);
  }

  /** Resolves when every command queued so far has been answered by the module (or has failed). */
  drained(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  // ------------------------------------------------------------------------------ public commands

  /** @internal Queue one coil write for an output; resolves when its frame is on the line (see {@link pump}). */
  drive(o: OwnedOutput, active: boolean): Promise<void> {
    const level: 0 | 1 = active === o.activeLow ? 0 : 1;
    if (active && this.haltedBy !== undefined) return Promise.reject(new RunStoppedError(`${this.name} coil ${o.pin} (${o.name}): energise`, this.haltedBy));
    if (active) this.energised.add(o.pin);
    else this.energised.delete(o.pin);
    return new Promise<void>((resolve, reject) => this.enqueue({ kind: 'coil', o, active, level, resolve, reject }));
  }

  /**
   * The run is stopping: refuse every energise from now on, for good, drop energises still
   * queued (they never reach the line), and release everything. Synchronous.
   */
  halt(reason: string): void {
    this.haltedBy ??= reason;
    const kept: Op[] = [];
    for (const op of this.queue) {
      if (op.kind === 'coil' && op.active) op.reject(new RunStoppedError(`${this.name} coil ${op.o.pin} (${op.o.name}): energise`, this.haltedBy));
      else kept.push(op);
    }
    this.queue = kept;
    this.releaseAll(reason);
  }

  get halted(): string | undefined {
    return this.haltedBy;
  }

  /**
   * Release every owned coil with one function-15 write, after whatever is already queued (in
   * order, as a Firmata board's bytes go out). Synchronous: on an idle bus the frame is on the
   * line when this returns.
   */
  releaseAll(reason: string): void {
    if (!this.conn || this.st !== 'ready') return;
    this.energised.clear();
    this.enqueue({ kind: 'all', reason, resolve: () => undefined, reject: () => undefined });
  }

  /**
   * Last resort, for process exit and a second Ctrl-C: the release-all frame written straight to
   * the port's descriptor, synchronously, bypassing the queue. It waits out the answer still due
   * to a request in flight and the 3.5-character silence first, so it does not run into that
   * request (the module would take both for one corrupted frame) or talk over the answer on the
   * half-duplex pair. Nobody reads its own answer. Returns false when no port is open.
   */
  emergencyReleaseSync(reason: string): boolean {
    const conn = this.conn;
    const fd = (conn?.port.stream.port as { fd?: number | null } | undefined)?.fd;
    if (!conn || fd === undefined || fd === null || this.span === 0) return false;
    const values = [...this.image];
    for (const o of this.options.outputs) values[o.pin - this.lo] = o.activeLow;
    const bits = Buffer.alloc(Math.ceil(this.span / 8));
    values.forEach((v, i) => {
      if (v) bits[i >> 3]! |= 1 << (i & 7);
    });
    const pdu = Buffer.from([this.unitId, 0x0f, this.lo >> 8, this.lo & 0xff, this.span >> 8, this.span & 0xff, bits.length, ...bits]);
    const frame = Buffer.alloc(pdu.length + 2);
    pdu.copy(frame);
    frame.writeUInt16LE(crc16(pdu), pdu.length);
    const charMs = 11_000 / this.baudRate;
    const silenceMs = this.baudRate > 19200 ? 1.75 : 3.5 * charMs;
    sleepSync(Math.ceil(silenceMs + (this.busy ? (conn.port.awaitedBytes + 8) * charMs + 5 : 0)));
    // Nothing queued or retried may energise after this: the process is on its way out.
    this.haltedBy ??= reason;
    this.emergency = true;
    this.failQueued(new RunStoppedError(`${this.name}: command`, this.haltedBy));
    this.energised.clear();
    let ok = true;
    let written = 0;
    for (let tries = 0; written < frame.length && tries < 1000; tries++) {
      try {
        written += fs.writeSync(fd, frame, written);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') {
          ok = false;
          break;
        }
      }
    }
    this.options.log.record(this.name, 'release_all', { reason, pins: this.options.outputs.length, sync: 1 });
    return ok;
  }

  /** A digital output on one of this board's owned coils. */
  output(pin: number): ModbusCoilOutput {
    const o = this.options.outputs.find((x) => x.pin === pin);
    if (!o) throw new RigFault(`${this.name}: coil ${pin} is not one of this board's outputs (${this.options.outputs.map((x) => x.pin).join(', ')})`, this.name);
    return new ModbusCoilOutput(this, o);
  }

  /** Whether an owned coil is currently commanded to energise its relay. */
  isEnergised(pin: number): boolean {
    return this.energised.has(pin);
  }

  private onPortClosed(conn: Connection, err?: Error & { disconnected?: boolean }): void {
    if (conn !== this.conn || this.st === 'closing' || this.st === 'closed') return;
    const reason = err?.message ?? 'closed';
    this.options.log.record(this.name, 'board_lost', { path: conn.path, reason });
    this.st = 'faulted';
    this.conn = undefined;
    const fault = new PartGone(`${this.name}: lost the RS-485 adapter's port ${conn.path} (${reason}); the relays on unit ${this.unitId} keep whatever they were last told`, this.name);
    this.failQueued(fault);
    this.options.log.record(this.name, 'board_faulted', { reason });
    this.fault(fault);
  }

  /** Release every relay, wait for the module to acknowledge, close the port. Safe to call twice. */
  async close(): Promise<void> {
    if (this.st === 'closed' || this.st === 'idle') {
      this.st = 'closed';
      return;
    }
    const wasReady = this.st === 'ready';
    this.st = 'closing';
    if (wasReady && this.conn) {
      this.energised.clear();
      await new Promise<void>((resolve) => this.enqueue({ kind: 'all', reason: 'close', resolve, reject: () => resolve() }));
    }
    await this.drained();
    await this.dropConnection();
    this.st = 'closed';
  }

  private async dropConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    if (!conn.port.isOpen) return;
    await new Promise<void>((resolve) => conn.port.stream.drain(() => resolve()));
    await new Promise<void>((resolve) => conn.client.close(() => resolve()));
  }
}

/** One relay on a Modbus module. `set(true)` energises it; resolves when its frame is on the line. */
export class ModbusCoilOutput implements DigitalOutput {
  readonly name: string;

  constructor(
    private readonly board: ModbusRelayBoard,
    private readonly spec: OwnedOutput,
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
      return Promise.reject(new StateError(`${this.board.name} coil ${this.spec.pin} (${this.name})`, this.board.state, active ? 'energise' : 'release'));
    }
    return this.board.drive(this.spec, active);
  }
}
