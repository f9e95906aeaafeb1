import fs from 'node:fs';
import tty from 'node:tty';
import { SerialPort } from 'serialport';
import { isPtySlave } from './tty-fd.ts';

type NativeBinding = typeof SerialPort.binding;
type NativePort = Awaited<ReturnType<NativeBinding['open']>>;

/** A read error serialport's stream treats as a closed port (no disconnect event). */
function canceled(): Error {
  return Object.assign(new Error('Port is closed'), { canceled: true });
}

/**
 * The native binding's port with reads done on the event loop. bindings-cpp reads with `fs.read`
 * — one read outstanding, each a threadpool round trip that returns at most 4 KiB from a PTY — and
 * under a flood the process spent a third of its time in that path or idle between reads. Here
 * the fd the native binding opened (and configured: baud, raw mode) is also wrapped in a libuv
 * TTY stream, which polls it and reads until EAGAIN. Everything else is the native port's.
 */
class EventLoopReadPort {
  private readonly stream: tty.ReadStream;
  private queue: Buffer[] = [];
  private queued = 0;
  private waiting: { buffer: Buffer; offset: number; length: number; resolve: (r: { buffer: Buffer; bytesRead: number }) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly ownFd: number | undefined;

  constructor(
    private readonly inner: NativePort,
    readFd: number,
  ) {
    // The stream owns `readFd` (libuv closes it, or the fd it reopens for a PTY slave); the native
    // fd stays the native port's, so nothing is closed twice.
    this.ownFd = isPtySlave(readFd) ? readFd : undefined;
    this.stream = new tty.ReadStream(readFd);
    this.stream.on('data', (d: Buffer) => this.onData(d));
    const lost = (err?: Error) => this.fail(Object.assign(err ?? new Error('port closed by the device side'), { disconnect: true }));
    this.stream.on('error', lost);
    this.stream.on('end', () => lost());
  }

  get openOptions() {
    return this.inner.openOptions;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  /** The native port's descriptor (for a last synchronous write on process exit), or null once closed. */
  get fd(): number | null {
    return (this.inner as unknown as { fd?: number | null }).fd ?? null;
  }

  private onData(d: Buffer): void {
    const w = this.waiting;
    if (w && this.queued === 0) {
      this.waiting = undefined;
      const n = Math.min(w.length, d.length);
      d.copy(w.buffer, w.offset, 0, n);
      if (n < d.length) this.push(d.subarray(n));
      w.resolve({ buffer: w.buffer, bytesRead: n });
      return;
    }
    this.push(d);
  }

  private push(d: Buffer): void {
    this.queue.push(d);
    this.queued += d.length;
    // Nobody is taking data (serialport paused): stop polling rather than buffer without bound.
    if (this.queued > 1 << 20) this.stream.pause();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (this.queued > 0) {
      let n = 0;
      while (n < length && this.queue.length > 0) {
        const head = this.queue[0]!;
        const take = Math.min(length - n, head.length);
        head.copy(buffer, offset + n, 0, take);
        n += take;
        if (take === head.length) this.queue.shift();
        else this.queue[0] = head.subarray(take);
      }
      this.queued -= n;
      if (this.queued < 1 << 18 && this.stream.isPaused()) this.stream.resume();
      return Promise.resolve({ buffer, bytesRead: n });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (!this.isOpen) return Promise.reject(canceled());
    return new Promise((resolve, reject) => {
      this.waiting = { buffer, offset, length, resolve, reject };
    });
  }

  async close(): Promise<void> {
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(canceled());
    await new Promise<void>((resolve) => {
      this.stream.once('close', () => resolve());
      this.stream.destroy();
    });
    if (this.ownFd !== undefined) fs.closeSync(this.ownFd);
    await this.inner.close();
  }

  /**
   * Written on the calling thread, straight into the kernel, when the (non-blocking) fd takes it;
   * only what it refuses goes the native way (a threadpool `write`, retried on EAGAIN). The native
   * path alone hands every write to libuv's threadpool: under CPU load that hop ran 28 ms after the
   * call, so a relay's ON and OFF reached the board together and a 30 ms press energised the coil
   * for 2.9 ms, too short for its contact to make (the press then read as the firmware's lost
   * edge). The moment the harness stamps a command is now the moment its bytes are on the port.
   * The stream never overlaps two writes, so nothing can overtake a write still in flight.
   */
  write(buffer: Buffer): Promise<void> {
    const fd = this.fd;
    if (fd !== null && buffer.length > 0) {
      try {
        const n = fs.writeSync(fd, buffer);
        if (n === buffer.length) return Promise.resolve();
        return this.inner.write(buffer.subarray(n));
      } catch {
        // EAGAIN (a full output buffer) or a failing port: the native write waits, or reports it.
      }
    }
    return this.inner.write(buffer);
  }
  update(options: Parameters<NativePort['update']>[0]) {
    return this.inner.update(options);
  }
  set(options: Parameters<NativePort['set']>[0]) {
    return this.inner.set(options);
  }
  get() {
    return this.inner.get();
  }
  getBaudRate() {
    return this.inner.getBaudRate();
  }
  flush() {
    return this.inner.flush();
  }
  drain() {
    return this.inner.drain();
  }
}

/** serialport's native binding, with event-loop reads (see {@link EventLoopReadPort}). */
export const eventLoopBinding = {
  list: () => SerialPort.binding.list(),
  async open(options: Parameters<NativeBinding['open']>[0]) {
    const inner = await SerialPort.binding.open(options as never);
    let readFd: number;
    try {
      // A second descriptor on the same tty, for reading only; the native one was configured
      // (baud, raw mode) and termios is per device, so both see the same settings.
      readFd = fs.openSync(options.path, fs.constants.O_RDONLY | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
    } catch (error) {
      await inner.close();
      throw error;
    }
    return new EventLoopReadPort(inner, readFd);
  },
} as unknown as NativeBinding;
