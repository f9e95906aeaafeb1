import fs from 'node:fs';
import { createRequire } from 'node:module';
import tty from 'node:tty';
import { EventEmitter } from 'node:events';
import { isPtySlave } from '../hw/tty-fd.ts';

const require = createRequire(import.meta.url);
interface NativePty {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}
const native = require('node-pty/build/Release/pty.node') as NativePty;

export interface PtyPairOptions {
  /**
   * Bytes kept for a host that is not reading (the PTY has taken nothing for `stallMs`); beyond
   * this, output is dropped and counted, as a UART's receiver drops what nobody takes. Default 64 KiB.
   */
  maxBacklog?: number;
  /**
   * The PTY taking nothing for this long, ms, with output waiting, means no host is reading.
   * Until then output is paced: held and written as the host takes it. Default 1000.
   */
  stallMs?: number;
  /** Ceiling on output held for a host that reads slowly, bytes (the sim's memory). Default 64 MiB. */
  maxPaced?: number;
}

const nowMs = (): number => Number(process.hrtime.bigint() / 1_000_000n);

/**
 * A real pseudo-terminal pair, device side. The sim writes what the device prints to the master;
 * the harness opens {@link PtyPair.path} (the slave) with serialport exactly as it would open a
 * USB serial adapter. The slave is held open (raw, never read) so that the master does not see
 * EIO while no host is attached; bytes written while nobody has the port open are flushed by
 * serialport's open, as a real UART drops them.
 *
 * Writes never block the process: libuv treats a PTY master as a TTY it cannot reopen and would
 * write to it *blocking*, which freezes the whole sim once a console nobody reads is full. So
 * writes go straight to the (non-blocking) master fd, with a backlog retried every ms.
 *
 * The backlog paces rather than drops while a host reads: a device that prints 1 MB at once and
 * then its ready line gets both to the host, later, as a UART would deliver them at its own pace.
 * Only once the PTY has taken nothing for `stallMs` (no host reading) is the backlog cut to
 * `maxBacklog` and the rest dropped and counted.
 *
 * Events: `data` (Buffer written by the host), `close`.
 */
export class PtyPair extends EventEmitter {
  readonly path: string;
  private readonly masterFd: number;
  private readonly master: tty.ReadStream;
  private readonly slave: tty.ReadStream;
  private readonly slaveFd: number;
  private readonly maxBacklog: number;
  private readonly stallMs: number;
  private readonly maxPaced: number;
  /** When the PTY last took bytes, or the backlog began (ms, monotonic). */
  private lastTakenMs = 0;
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  /** Output bytes dropped because the backlog was full. */
  dropped = 0;

  constructor(options: PtyPairOptions = {}) {
    super();
    this.maxBacklog = options.maxBacklog ?? 64 * 1024;
    this.stallMs = options.stallMs ?? 1000;
    this.maxPaced = Math.max(options.maxPaced ?? 64 * 1024 * 1024, this.maxBacklog);
    const t = native.open(80, 24);
    this.path = t.pty;
    this.masterFd = t.master;
    this.slaveFd = t.slave;
    this.slave = new tty.ReadStream(t.slave);
    // Raw, no echo: otherwise the line discipline echoes host bytes back to the device and
    // rewrites \n as \r\n.
    this.slave.setRawMode(true);
    this.slave.on('error', () => undefined);
    this.master = new tty.ReadStream(t.master);
    this.master.on('data', (d: Buffer) => this.emit('data', d));
    // EIO on the master is how Linux reports "slave side closed"; it is not an error for us.
    this.master.on('error', () => undefined);
  }

  /**
   * Send device output to the host. Never blocks. Returns false when the output had to be held
   * back (or dropped): a writer that cares can `await drain()`.
   */
  write(data: Buffer | string): boolean {
    if (this.closed) return false;
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.backlogBytes > 0) return this.hold(buf);
    const n = this.tryWrite(buf);
    if (n === buf.length) return true;
    // The backlog begins: the host has until stallMs from now to take something.
    this.lastTakenMs = nowMs();
    return this.hold(buf.subarray(n));
  }

  /** Output waits and the PTY has taken nothing for stallMs: no host is reading. */
  private get stalled(): boolean {
    return this.backlogBytes > 0 && nowMs() - this.lastTakenMs >= this.stallMs;
  }

  private tryWrite(buf: Buffer): number {
    try {
      return fs.writeSync(this.masterFd, buf);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EIO') return 0;
      throw error;
    }
  }

  private hold(buf: Buffer): false {
    const room = (this.stalled ? this.maxBacklog : this.maxPaced) - this.backlogBytes;
    if (room <= 0) {
      this.dropped += buf.length;
    } else {
      const kept = buf.length > room ? buf.subarray(0, room) : buf;
      this.dropped += buf.length - kept.length;
      this.backlog.push(kept);
      this.backlogBytes += kept.length;
    }
    this.retry ??= setTimeout(() => this.flushBacklog(), 1);
    return false;
  }

  private flushBacklog(): void {
    this.retry = undefined;
    if (this.closed) return;
    while (this.backlog.length > 0) {
      const head = this.backlog[0]!;
      const n = this.tryWrite(head);
      this.backlogBytes -= n;
      if (n > 0) this.lastTakenMs = nowMs();
      if (n < head.length) {
        this.backlog[0] = head.subarray(n);
        if (this.stalled) this.trimTo(this.maxBacklog);
        this.retry = setTimeout(() => this.flushBacklog(), 1);
        return;
      }
      this.backlog.shift();
    }
    this.emit('drain');
  }

  /** Keep the oldest `max` bytes of the backlog; the newer ones are dropped and counted. */
  private trimTo(max: number): void {
    if (this.backlogBytes <= max) return;
    let kept = 0;
    const out: Buffer[] = [];
    for (const b of this.backlog) {
      if (kept >= max) break;
      const part = b.length > max - kept ? b.subarray(0, max - kept) : b;
      out.push(part);
      kept += part.length;
    }
    this.dropped += this.backlogBytes - kept;
    this.backlog = out;
    this.backlogBytes = kept;
  }

  /** Resolves when held-back output has gone to the kernel. */
  drain(): Promise<void> {
    if (this.closed || this.backlogBytes === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.once('drain', done);
      this.once('close', done);
    });
  }

  /** Close both ends. The host's serialport sees a disconnect (`err.disconnected`). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.backlog = [];
    this.backlogBytes = 0;
    this.master.destroy();
    this.slave.destroy();
    // libuv reopened the slave on its own fd (see isPtySlave); the one node-pty gave us is ours.
    if (isPtySlave(this.slaveFd)) fs.closeSync(this.slaveFd);
    this.emit('close');
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
