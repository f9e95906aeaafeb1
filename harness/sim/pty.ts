import { createRequire } from 'node:module';
import tty from 'node:tty';
import { EventEmitter } from 'node:events';

const require = createRequire(import.meta.url);
interface NativePty {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}
const native = require('node-pty/build/Release/pty.node') as NativePty;

/**
 * A real pseudo-terminal pair, device side. The sim writes what the device prints to the master;
 * the harness opens {@link PtyPair.path} (the slave) with serialport exactly as it would open a
 * USB serial adapter. The slave is held open (raw, never read) so that the master does not see
 * EIO while no host is attached; bytes written while nobody has the port open are flushed by
 * serialport's open, as a real UART drops them.
 *
 * Events: `data` (Buffer written by the host), `close`.
 */
export class PtyPair extends EventEmitter {
  readonly path: string;
  private readonly master: tty.ReadStream;
  private readonly slave: tty.ReadStream;
  private closed = false;

  constructor() {
    super();
    const t = native.open(80, 24);
    this.path = t.pty;
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

  /** Send device output to the host. Returns false once closed. */
  write(data: Buffer | string): boolean {
    if (this.closed) return false;
    return this.master.write(data);
  }

  /** Close both ends. The host's serialport sees a disconnect (`err.disconnected`). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.master.destroy();
    this.slave.destroy();
    this.emit('close');
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
