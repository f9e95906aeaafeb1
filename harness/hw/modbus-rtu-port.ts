import { EventEmitter } from 'node:events';
import type { SerialPortStream } from '@serialport/stream';

/** Counters of what the framing saw on the line. */
export interface RtuLineStats {
  /** Requests written. */
  requests: number;
  /** Whole answer frames handed to the Modbus client. */
  frames: number;
  /** Bytes thrown away: before an answer's start, or left over when the next request went out. */
  strayBytes: number;
}

/**
 * The transport modbus-serial's `ModbusRTU` is given instead of a port it would open itself: the
 * project's serialport 13 stream (its event-loop binding, exclusive lock, port resolution) with
 * RTU answer framing on top. A serial port hands over bytes in whatever chunks the OS delivers,
 * and `ModbusRTU` expects each `data` event to be one whole frame; so, like the library's own
 * buffered port, the answer is cut by the length the request implies (an exception answer is
 * always 5 bytes). Bytes that cannot start the expected answer (another unit, another function)
 * are stray (line noise, a late answer to an earlier request) and are dropped and counted.
 *
 * What `ModbusRTU` uses: `open(cb)`, `close(cb)`, `write(frame)`, `isOpen`, events `data`,
 * `error`, `close`.
 */
export class RtuFramedPort extends EventEmitter {
  private rx: Buffer = Buffer.alloc(0);
  private expect: { unit: number; fn: number; length: number } | undefined;
  /** @param stats counters to add to (kept by the board across reconnects). */
  constructor(
    readonly stream: SerialPortStream,
    readonly stats: RtuLineStats = { requests: 0, frames: 0, strayBytes: 0 },
  ) {
    super();
    stream.on('data', (d: Buffer) => this.onData(d));
    stream.on('error', (e: Error) => this.emit('error', e));
    stream.on('close', (e?: Error) => this.emit('close', e));
  }

  get isOpen(): boolean {
    return this.stream.isOpen;
  }

  open(cb: (err: Error | null) => void): void {
    this.stream.open(cb);
  }

  close(cb?: (err: Error | null) => void): void {
    if (!this.stream.isOpen) {
      cb?.(null);
      return;
    }
    this.stream.close(cb);
  }

  /** Bytes still expected for the answer in progress (0 when none is), for the line's busy time. */
  get awaitedBytes(): number {
    return this.expect ? Math.max(0, this.expect.length - this.rx.length) : 0;
  }

  write(frame: Buffer): void {
    // A new request: whatever is still in the buffer answers nothing we wait for.
    this.stats.strayBytes += this.rx.length;
    this.rx = Buffer.alloc(0);
    this.expect = { unit: frame[0]!, fn: frame[1]!, length: answerLength(frame) };
    this.stats.requests++;
    this.stream.write(frame);
  }

  private onData(d: Buffer): void {
    this.rx = this.rx.length === 0 ? d : Buffer.concat([this.rx, d]);
    const e = this.expect;
    if (!e) {
      this.stats.strayBytes += this.rx.length;
      this.rx = Buffer.alloc(0);
      return;
    }
    // Drop bytes until the buffer starts like the answer: our unit, then our function (or its exception).
    while (this.rx.length > 0 && (this.rx[0] !== e.unit || (this.rx.length > 1 && this.rx[1] !== e.fn && this.rx[1] !== (e.fn | 0x80)))) {
      this.rx = this.rx.subarray(1);
      this.stats.strayBytes++;
    }
    if (this.rx.length < 2) return;
    const length = this.rx[1] === e.fn ? e.length : 5;
    if (this.rx.length < length) return;
    const frame = Buffer.from(this.rx.subarray(0, length));
    this.stats.strayBytes += this.rx.length - length;
    this.rx = Buffer.alloc(0);
    this.expect = undefined;
    this.stats.frames++;
    this.emit('data', frame);
  }
}

/** Length of the normal answer to `request`: unit, function, data, CRC. */
export function answerLength(request: Uint8Array): number {
  const fn = request[1];
  if (fn === 0x01 || fn === 0x02) {
    const quantity = ((request[4] ?? 0) << 8) | (request[5] ?? 0);
    return 5 + Math.ceil(quantity / 8);
  }
  if (fn === 0x03 || fn === 0x04) {
    const quantity = ((request[4] ?? 0) << 8) | (request[5] ?? 0);
    return 5 + 2 * quantity;
  }
  // 5, 6, 15, 16 echo address and value or quantity.
  return 8;
}
