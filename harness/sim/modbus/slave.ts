import type { GroundTruthLog } from '../ground-truth.ts';
import type { PinChangeSource } from '../relay.ts';
import { UartLine } from '../firmata/uart.ts';
import { BROADCAST, crcOk, decodeRequest, exceptionResponse, FN, interFrameNs, packBits, withCrc } from './rtu.ts';

/** Lifecycle: `off` → `running` (power on); `reset()` clears the coils and keeps running. */
export type ModbusSlaveState = 'off' | 'running';

export interface ModbusRelaySlaveOptions {
  /** Source name in the ground truth and in messages (the rig's board name). */
  name: string;
  /** Sends the slave's responses to the host, e.g. `(b) => pty.write(b)`. */
  send: (bytes: Buffer) => void;
  /** Where `pin` (coil), `power`, `reset` and `rtu` (frames ignored or refused) records go. Default: none. */
  truth?: GroundTruthLog;
  /** Its slave address, 1-247. Default 1. */
  unitId?: number;
  /** Line speed (8N1 on the wire; the inter-frame gap is reckoned on 11-bit characters as the spec does). Default 9600. */
  baudRate?: number;
  /** Number of coils (relay channels): 8 and 16 are the common boards. Default 16. */
  coils?: number;
  /** Time from the end of a request frame to the start of the response, ms (the board's firmware). Default 2. */
  turnaroundMs?: number;
}

type PinListener = (pin: number, level: 0 | 1 | null, mode: string, tNs: bigint) => void;

const hrtime = (): bigint => process.hrtime.bigint();
const NS_PER_MS = 1_000_000n;

/**
 * The device side of a Modbus RTU relay module (the cheap 8-/16-channel RS-485 boards) behind a
 * serial line: coils 0…N-1, each driving one relay (coil on = relay energised).
 *
 * Timing is modelled in host time, as the sim's Firmata board does: each host byte counts as
 * received when its stop bit would have arrived at `baudRate` (bytes that arrive together from a
 * PTY are spread out on a virtual line), a frame ends after 3.5 characters of silence, and only
 * then is it judged: a bad CRC or another unit's address gets no answer at all (as on a real
 * bus, where the master only sees a timeout), a broadcast write is executed and not answered, a
 * function the board lacks or a value out of range gets an exception response. Bytes that follow
 * a frame with less than 3.5 characters of silence run into it: the merged frame fails its CRC.
 *
 * Coil changes happen when the frame is executed (its end plus the silence) and are reported to
 * {@link onPinChange} listeners, so a {@link RelayModule} attaches exactly as it does to a
 * Firmata board (pin = coil address, level 1 = energised, `null` = unpowered).
 */
export class ModbusRelaySlave implements PinChangeSource {
  readonly name: string;
  readonly unitId: number;
  readonly coilCount: number;
  private readonly send: (bytes: Buffer) => void;
  private readonly truth: GroundTruthLog | undefined;
  private readonly rxLine: UartLine;
  private readonly txLine: UartLine;
  private readonly t35: bigint;
  private readonly turnaround: bigint;
  private readonly listeners = new Set<PinListener>();
  private readonly coils: boolean[];
  private st: ModbusSlaveState = 'off';
  /** Bytes of the frame being received, and when its last byte's stop bit arrived. */
  private frame: number[] = [];
  private lastByteNs = 0n;
  private frameTimer: NodeJS.Timeout | undefined;
  private readonly txTimers = new Set<NodeJS.Timeout>();
  private corrupt = 0;
  /** Counters a test can read: frames by what became of them. */
  readonly counts = { frames: 0, answered: 0, exceptions: 0, crcErrors: 0, otherUnit: 0, broadcasts: 0 };

  constructor(opts: ModbusRelaySlaveOptions) {
    if (typeof opts.name !== 'string' || opts.name === '') throw new TypeError(`ModbusRelaySlave: name must be a non-empty string, got ${JSON.stringify(opts.name)}`);
    const unitId = opts.unitId ?? 1;
    if (!Number.isInteger(unitId) || unitId < 1 || unitId > 247) throw new RangeError(`ModbusRelaySlave ${opts.name}: unitId must be 1-247, got ${String(unitId)}`);
    const coils = opts.coils ?? 16;
    if (!Number.isInteger(coils) || coils < 1 || coils > 2000) throw new RangeError(`ModbusRelaySlave ${opts.name}: coils must be 1-2000, got ${String(coils)}`);
    const turnaround = opts.turnaroundMs ?? 2;
    if (!(turnaround >= 0)) throw new RangeError(`ModbusRelaySlave ${opts.name}: turnaroundMs must be >= 0, got ${String(turnaround)}`);
    const baud = opts.baudRate ?? 9600;
    this.name = opts.name;
    this.unitId = unitId;
    this.coilCount = coils;
    this.send = opts.send;
    this.truth = opts.truth;
    this.rxLine = new UartLine(baud);
    this.txLine = new UartLine(baud);
    this.t35 = interFrameNs(baud);
    this.turnaround = BigInt(Math.round(turnaround * 1e6));
    this.coils = new Array<boolean>(coils).fill(false);
  }

  get state(): ModbusSlaveState {
    return this.st;
  }

  /** Apply power: every coil off (the boards boot with their relays released). Refused unless `off`. */
  powerOn(): void {
    if (this.st !== 'off') throw new Error(`ModbusRelaySlave ${this.name}: powerOn() refused in state '${this.st}'`);
    const t = hrtime();
    this.st = 'running';
    this.record(t, 'power', { on: true });
    this.coils.fill(false);
    for (let c = 0; c < this.coilCount; c++) this.report(c, 0, t);
  }

  /** Remove power: every relay drops out, what was on the line is lost. Safe in any state. */
  powerOff(): void {
    if (this.st === 'off') return;
    const t = hrtime();
    this.halt();
    this.st = 'off';
    this.record(t, 'power', { on: false });
    for (let c = 0; c < this.coilCount; c++) this.report(c, null, t);
  }

  /** A reset (supply dip, watchdog): every coil off again, the frame in progress lost. The host is not told. */
  reset(): void {
    if (this.st === 'off') throw new Error(`ModbusRelaySlave ${this.name}: reset() refused in state 'off'`);
    const t = hrtime();
    this.halt();
    this.record(t, 'reset', {});
    this.coils.fill(false);
    for (let c = 0; c < this.coilCount; c++) this.report(c, 0, t);
  }

  /**
   * Misbehave on purpose: the next `n` answers leave with their CRC damaged (line noise on the
   * way back), so the master sees CRC errors. The requests are still executed.
   */
  corruptAnswers(n: number): void {
    this.corrupt = n;
  }

  /** Whether coil `address` is on. */
  coil(address: number): boolean {
    return this.coils[address] ?? false;
  }

  /** Bytes from the host (the PTY's `data`). Ignored while `off`. */
  receive(bytes: Uint8Array): void {
    if (this.st === 'off' || bytes.length === 0) return;
    const now = hrtime();
    for (const b of bytes) {
      const end = this.rxLine.push(now);
      // A byte that starts within 3.5 characters of the previous one's end belongs to its frame.
      if (this.frame.length > 0 && end - this.rxLine.byteNs - this.lastByteNs >= this.t35) this.endFrame();
      this.frame.push(b);
      this.lastByteNs = end;
    }
    this.armFrameEnd();
  }

  /** Time of the earliest received byte not yet executed (its coil changes come no earlier). */
  get pendingRxNs(): bigint | undefined {
    return this.frame.length > 0 ? this.lastByteNs : undefined;
  }

  onPinChange(listener: PinListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---------------------------------------------------------------------------------------------

  private halt(): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
    for (const t of this.txTimers) clearTimeout(t);
    this.txTimers.clear();
    this.frame = [];
    this.rxLine.clear();
    this.txLine.clear();
  }

  private armFrameEnd(): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    const due = this.lastByteNs + this.t35;
    const wait = due - hrtime();
    this.frameTimer = setTimeout(
      () => {
        this.frameTimer = undefined;
        if (hrtime() < due) return this.armFrameEnd();
        this.endFrame();
      },
      wait <= 0n ? 0 : Number((wait + NS_PER_MS - 1n) / NS_PER_MS),
    );
  }

  /** The silence after the frame has passed: judge it and act, at the time the firmware would. */
  private endFrame(): void {
    const bytes = Buffer.from(this.frame);
    const t = this.lastByteNs + this.t35;
    this.frame = [];
    if (bytes.length === 0) return;
    this.counts.frames++;
    if (bytes.length < 4 || !crcOk(bytes)) {
      this.counts.crcErrors++;
      this.record(t, 'rtu', { what: 'crc_error', bytes: bytes.length });
      return;
    }
    const unit = bytes[0]!;
    if (unit !== this.unitId && unit !== BROADCAST) {
      this.counts.otherUnit++;
      this.record(t, 'rtu', { what: 'other_unit', unit });
      return;
    }
    const req = decodeRequest(bytes, this.coilCount);
    const broadcast = unit === BROADCAST;
    if ('exception' in req) {
      this.record(t, 'rtu', { what: 'exception', fn: req.fn, exception: req.exception, why: req.why });
      if (broadcast) return;
      this.counts.exceptions++;
      this.respond(exceptionResponse(this.unitId, req.fn, req.exception), t);
      return;
    }
    if (broadcast && req.fn === FN.readCoils) return; // a read cannot be broadcast: ignored
    if (req.fn === FN.readCoils) {
      const bits = packBits(this.coils.slice(req.address, req.address + req.quantity));
      this.respond(withCrc([this.unitId, FN.readCoils, bits.length, ...bits]), t);
    } else if (req.fn === FN.writeSingleCoil) {
      this.setCoil(req.address, req.value, t);
      if (!broadcast) this.respond(Buffer.from(bytes), t); // the echo of the request
    } else {
      req.values.forEach((v, i) => this.setCoil(req.address + i, v, t));
      if (!broadcast) this.respond(withCrc([this.unitId, FN.writeMultipleCoils, ...bytes.subarray(2, 6)]), t);
    }
    if (broadcast) this.counts.broadcasts++;
  }

  private setCoil(address: number, on: boolean, t: bigint): void {
    if (this.coils[address] === on) return;
    this.coils[address] = on;
    this.report(address, on ? 1 : 0, t);
  }

  /** Send a response: it leaves after the turnaround and arrives when its last stop bit would. */
  private respond(frame: Buffer, t: bigint): void {
    this.counts.answered++;
    if (this.corrupt > 0) {
      this.corrupt--;
      frame = Buffer.from(frame);
      frame[frame.length - 1]! ^= 0x5a;
    }
    let end = t + this.turnaround;
    for (let i = 0; i < frame.length; i++) end = this.txLine.push(t + this.turnaround);
    const wait = end - hrtime();
    const timer = setTimeout(
      () => {
        this.txTimers.delete(timer);
        if (this.st === 'running') this.send(frame);
      },
      wait <= 0n ? 0 : Number((wait + NS_PER_MS - 1n) / NS_PER_MS),
    );
    this.txTimers.add(timer);
  }

  private report(address: number, level: 0 | 1 | null, t: bigint): void {
    this.record(t, 'pin', { pin: address, level, mode: level === null ? 'OFF' : 'COIL' });
    for (const l of this.listeners) l(address, level, level === null ? 'OFF' : 'COIL', t);
  }

  private record(t: bigint, kind: string, fields: Record<string, unknown>): void {
    this.truth?.record({ ...fields, t, src: this.name, kind });
  }
}
