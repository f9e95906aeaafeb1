/**
 * How a device's console bytes travel from the device to its PTY: the link between a device's
 * UART and the host's serial port.
 *
 * - `direct` (default): the bytes reach the PTY the moment the device prints them (a PTY takes
 *   them at memory speed).
 * - `uart`: a 115200-baud 8N1 UART: bytes leave one after another at 10 bits each (86.8 µs), and a
 *   line reaches the host when its last byte has.
 * - `usb-ftdi`: the same UART into a USB-serial adapter (an FTDI chip): the adapter sends what it
 *   holds when it has a full packet (62 bytes) or when its latency timer (16 ms, its default)
 *   expires, and the host takes it at its next 1 ms USB frame. Lines arrive in chunks, 1–16 ms
 *   after they were printed.
 *
 * Times are real (the host's monotonic clock): the link stands between the device's model, which
 * says when a line is printed, and the PTY, which the harness reads.
 */
export const CONSOLE_LINKS = ['direct', 'uart', 'usb-ftdi'] as const;
export type ConsoleLinkKind = (typeof CONSOLE_LINKS)[number];

/** Bits per byte on an 8N1 UART: start, 8 data, stop. */
const BITS_PER_BYTE = 10;
/** An FTDI full-speed packet carries 64 bytes, 2 of which are modem status. */
const FTDI_PACKET_BYTES = 62;
/** The FTDI latency timer's default. */
const FTDI_LATENCY_NS = 16_000_000n;
/** A full-speed USB frame: the host polls the adapter once per frame. */
const USB_FRAME_NS = 1_000_000n;

const nowNs = (): bigint => process.hrtime.bigint();

export interface ConsoleLinkOptions {
  kind: ConsoleLinkKind;
  /** Where the bytes go when they arrive (the PTY). */
  deliver: (bytes: Buffer) => void;
  /** The UART's baud rate. Default 115200. */
  baudRate?: number;
}

interface Pending {
  at: bigint;
  bytes: Buffer;
}

/** One device console's link. {@link write} takes what the device prints, when it prints it. */
export class ConsoleLink {
  private readonly byteNs: bigint;
  /** When the UART has sent everything handed to it so far. */
  private uartFreeAt = 0n;
  /** Bytes in the adapter's buffer, and when the last of them arrived there. */
  private fifo: Buffer[] = [];
  private fifoBytes = 0;
  /** When the first byte now in the adapter's buffer arrived. */
  private fifoFirstAt = 0n;
  /** When the adapter last sent a packet: its latency timer runs from there. */
  private lastFlushNs = 0n;
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: ConsoleLinkOptions) {
    const baud = opts.baudRate ?? 115200;
    if (!(baud > 0)) throw new RangeError(`ConsoleLink: baudRate must be > 0, got ${String(baud)}`);
    this.byteNs = BigInt(Math.round((BITS_PER_BYTE * 1e9) / baud));
  }

  write(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    if (this.opts.kind === 'direct') {
      this.opts.deliver(chunk);
      return;
    }
    const now = nowNs();
    let t = this.uartFreeAt > now ? this.uartFreeAt : now;
    if (this.opts.kind === 'uart') {
      // A line is read when its last byte has arrived.
      let from = 0;
      while (from < chunk.length) {
        const nl = chunk.indexOf(0x0a, from);
        const end = nl < 0 ? chunk.length : nl + 1;
        t += BigInt(end - from) * this.byteNs;
        this.queue.push({ at: t, bytes: chunk.subarray(from, end) });
        from = end;
      }
    } else {
      // Bytes enter the adapter one by one; it sends a packet when one is full, else on its timer.
      for (let k = 0; k < chunk.length; k++) {
        t += this.byteNs;
        this.ftdiByte(chunk.subarray(k, k + 1), t);
      }
      this.ftdiTimer(t);
    }
    this.uartFreeAt = t;
    this.arm();
  }

  private ftdiByte(b: Buffer, t: bigint): void {
    this.ftdiTimer(t);
    if (this.fifoBytes === 0) this.fifoFirstAt = t;
    this.fifo.push(b);
    this.fifoBytes++;
    if (this.fifoBytes >= FTDI_PACKET_BYTES) this.ftdiSend(t);
  }

  /** When the latency timer (expiring every 16 ms after the last packet) next finds the buffer holding data. */
  private ftdiExpiry(): bigint {
    const since = this.fifoFirstAt - this.lastFlushNs;
    return this.lastFlushNs + FTDI_LATENCY_NS * ((since + FTDI_LATENCY_NS - 1n) / FTDI_LATENCY_NS);
  }

  /** The latency timer expired by `t` with data waiting: send it. */
  private ftdiTimer(t: bigint): void {
    if (this.fifoBytes === 0) return;
    const expiry = this.ftdiExpiry();
    if (expiry <= t) this.ftdiSend(expiry);
  }

  private ftdiSend(t: bigint): void {
    // The host takes the packet at its next USB frame.
    const frame = ((t + USB_FRAME_NS - 1n) / USB_FRAME_NS) * USB_FRAME_NS;
    this.queue.push({ at: frame, bytes: Buffer.concat(this.fifo) });
    this.fifo = [];
    this.fifoBytes = 0;
    this.lastFlushNs = t;
  }

  /** Deliver what is due; wake again for the next. */
  private arm(): void {
    if (this.closed || this.timer) return;
    const now = nowNs();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) this.opts.deliver(this.queue.shift()!.bytes);
    let next = this.queue[0]?.at;
    // A partly filled adapter buffer goes out when the latency timer expires.
    if (this.opts.kind === 'usb-ftdi' && this.fifoBytes > 0) {
      const expiry = this.ftdiExpiry();
      if (next === undefined || expiry < next) next = expiry;
    }
    if (next === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.opts.kind === 'usb-ftdi') this.ftdiTimer(nowNs());
        this.arm();
      },
      Math.max(0, Math.ceil(Number(next - now) / 1e6)),
    );
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}
