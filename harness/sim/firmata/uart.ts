/**
 * One direction of an 8N1 UART in host time: a byte occupies the line for 10 bit times and bytes
 * go back to back. Only the virtual "line free at" time is kept, so pacing costs no timers.
 */
export class UartLine {
  /** Duration of one byte on the wire, ns. */
  readonly byteNs: bigint;
  private freeAt = 0n;

  constructor(baudRate: number) {
    if (!Number.isFinite(baudRate) || baudRate <= 0) {
      throw new RangeError(`baudRate must be a positive number, got ${String(baudRate)}`);
    }
    this.byteNs = BigInt(Math.round(10e9 / baudRate));
  }

  /** A byte ready to go at `t`: returns the time its stop bit ends. */
  push(t: bigint): bigint {
    const start = t > this.freeAt ? t : this.freeAt;
    this.freeAt = start + this.byteNs;
    return this.freeAt;
  }

  /** When the last queued byte finishes. */
  get busyUntil(): bigint {
    return this.freeAt;
  }

  clear(): void {
    this.freeAt = 0n;
  }
}
