import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { SerialPort } from 'serialport';
import { SerialPortStream } from '@serialport/stream';
import { retryWithBackoff, type Retry } from '../core/backoff.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { LineDecoder } from '../core/decoders.ts';
import { RigFault, StateError } from '../core/errors.ts';
import { benchInUse, isLockFailure } from './port-holder.ts';
import type { LineSource, LineSourceStats, PartState } from '../core/interfaces.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import { eventLoopBinding } from './event-loop-binding.ts';
import { describePortSpec, resolvePort, type PortSpec, type ResolveOptions } from './port-finder.ts';

/** A serialport binding (native, or `SerialPortMock.binding` in tests). */
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];

export interface SerialLineSourceOptions {
  /** Device name; the `source` of every observation. No dots. */
  name: string;
  /** Where the port is. */
  port: PortSpec;
  /** Default 115200. (A PTY ignores it.) */
  baudRate?: number;
  log: ObservationLog;
  /** Line decoder. Default: telemetry only. */
  decoder?: LineDecoder;
  /** Append every byte read to this file. Default: none. */
  rawLogPath?: string;
  /**
   * Most bytes the raw log takes; past it the bytes are counted, not written (a flooding device
   * cannot fill the disk), and the log ends with a line saying how many were left out. Default 64 MiB.
   */
  rawLogMaxBytes?: number;
  /** Longest line kept, in bytes; longer lines are cut and counted. Default 4096. */
  maxLineBytes?: number;
  /** Reopen after a disconnect, with exponential backoff. `false` to give up at once. Default `{ initialMs: 50, maxMs: 2000 }`. */
  reconnect?: { initialMs?: number; maxMs?: number; maxAttempts?: number } | false;
  /** serialport binding. Default: the native one. Tests pass `SerialPortMock.binding`. */
  binding?: SerialBinding;
  /** Port lookup options (lister, by-id folder). Default lister: `SerialPort.list`. */
  resolve?: ResolveOptions;
  /** Clock for backoff timers. Default: the host clock. */
  clock?: Clock;
  /** Read size per chunk from the port. Default 16 KiB. */
  highWaterMark?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into lines at `\n` (as serialport's ReadlineParser does), without a Buffer
 * or a string per line: each chunk fed leaves its complete lines as one span, `lines[start, end)`
 * (every line in it ends with its `\n`), which the source decodes in one go, and keeps the bytes
 * after the last newline for the next chunk.
 */
class LineSplitter {
  /** Bytes held back waiting for a newline. */
  pending: Buffer = EMPTY;
  /** The last chunk fed (after what was pending), whose complete lines are `[start, end)`. */
  lines: Buffer = EMPTY;
  start = 0;
  end = 0;

  feed(chunk: Buffer): void {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const last = data.lastIndexOf(10);
    this.lines = data;
    this.start = 0;
    this.end = last + 1;
    this.pending = last + 1 === data.length ? EMPTY : data.subarray(last + 1);
  }
}

const noop = () => undefined;

/** The raw log is written when this much is read, or {@link RAW_BATCH_MS} after the first byte not yet written. */
const RAW_BATCH_BYTES = 64 * 1024;
const RAW_BATCH_MS = 20;

/** Bytes split between two chances for waiting code to run. */
const SLICE_BYTES = 1024;

/**
 * A device console on a serial port (serialport 13). Lines end with `\n` or
 * `\r\n`; each is stamped with the host monotonic clock when its chunk arrived, decoded, and
 * appended to the observation log. Garbage bytes, NULs and over-long lines never stop the
 * reader. A disconnect is recorded and the port reopened with backoff.
 */
export class SerialLineSource implements LineSource {
  readonly name: string;
  private st: PartState = 'idle';
  private port: SerialPortStream | undefined;
  private readonly splitter: LineSplitter;
  private readonly decoder: LineDecoder;
  private readonly log: ObservationLog;
  private readonly maxLine: number;
  private readonly clock: Clock;
  private raw: fs.WriteStream | undefined;
  private rawWritten = 0;
  /** Bytes read and not yet handed to the raw log's stream (see {@link rawWrite}). */
  private rawBatch: Buffer[] = [];
  private rawBatchBytes = 0;
  private rawTimer: NodeJS.Timeout | undefined;
  /** Bytes read but not written to the raw log (its cap was reached). */
  rawLeftOut = 0;
  private chunkT = 0n;
  /** The split lines not yet emitted: bytes `[linePos, lineEnd)` of `lineBuf`. */
  private lineBuf: Buffer = EMPTY;
  private linePos = 0;
  private lineEnd = 0;
  /**
   * The same bytes decoded, when they are plain ASCII with no NUL (a console's usual output): then
   * a line is a slice of this string, at its byte offsets less `textBase`. Otherwise each line is
   * decoded from the bytes on its own (its invalid UTF-8 and NULs counted).
   */
  private lineText: string | undefined;
  private textBase = 0;
  private readonly inbox: Array<{ t: bigint; chunk: Buffer; off: number }> = [];
  private pumping = false;
  private discarding = false;
  private retry: Retry<void> | undefined;
  private path: string | undefined;
  private readonly counters: LineSourceStats = { bytes: 0, lines: 0, truncated: 0, invalidUtf8: 0, nul: 0, disconnects: 0, reconnects: 0 };
  private readonly onData = (chunk: Buffer) => this.ingest(chunk);

  constructor(private readonly options: SerialLineSourceOptions) {
    if (!options.name || options.name.includes('.')) throw new RigFault(`serial source name ${JSON.stringify(options.name)}: expected a non-empty name without dots`);
    this.name = options.name;
    this.log = options.log;
    this.decoder = options.decoder ?? new LineDecoder();
    this.maxLine = options.maxLineBytes ?? 4096;
    this.clock = options.clock ?? systemClock;
    this.splitter = new LineSplitter();
  }

  get state(): PartState {
    return this.st;
  }

  get foundAt(): string | undefined {
    return this.path;
  }

  stats(): LineSourceStats {
    return { ...this.counters };
  }

  async open(): Promise<void> {
    if (this.st !== 'idle' && this.st !== 'closed') throw new StateError(this.name, this.st, 'open');
    this.st = 'opening';
    if (this.options.rawLogPath) {
      this.raw = fs.createWriteStream(this.options.rawLogPath, { flags: 'a' });
      this.raw.on('error', (error) => this.log.record('harness', 'error', { part: this.name, what: 'raw log', error: String(error) }));
      this.log.setSourceInfo(this.name, { rawLog: this.options.rawLogPath });
    }
    try {
      await this.connect();
    } catch (error) {
      this.st = 'faulted';
      await this.closeRaw();
      throw error;
    }
    this.st = 'ready';
    this.log.record(this.name, 'open', { path: this.path ?? '' });
  }

  private async connect(): Promise<void> {
    const resolved = await resolvePort(this.name, this.options.port, { list: () => SerialPort.list(), verifyPath: this.options.binding === undefined, ...this.options.resolve });
    this.path = resolved.path;
    const port = new SerialPortStream({
      binding: this.options.binding ?? eventLoopBinding,
      path: resolved.path,
      baudRate: this.options.baudRate ?? 115200,
      autoOpen: false,
      highWaterMark: this.options.highWaterMark ?? 16 * 1024,
    });
    await new Promise<void>((resolve, reject) =>
      port.open((err) => {
        if (!err) resolve();
        else if (isLockFailure(err)) reject(benchInUse(this.name, resolved.path, describePortSpec(this.options.port), err));
        else reject(new RigFault(`${this.name}: cannot open serial port ${resolved.path} (${describePortSpec(this.options.port)}): ${err.message}`, this.name, { cause: err }));
      }),
    );
    port.on('data', this.onData);
    port.on('error', (error: Error) => this.log.record(this.name, 'port_error', { error: error.message }));
    port.on('close', (err?: Error & { disconnected?: boolean }) => this.onClose(port, err));
    this.port = port;
  }

  /** The hot path: stamp, keep the raw bytes, then split in slices. */
  private ingest(chunk: Buffer): void {
    const t = process.hrtime.bigint();
    this.counters.bytes += chunk.length;
    if (this.raw) {
      const room = (this.options.rawLogMaxBytes ?? 64 * 1024 * 1024) - this.rawWritten;
      if (room >= chunk.length) {
        this.rawWrite(chunk);
        this.rawWritten += chunk.length;
      } else {
        if (room > 0) {
          this.rawWrite(chunk.subarray(0, room));
          this.rawWritten += room;
        }
        if (this.rawLeftOut === 0) this.log.record('harness', 'log_cap', { part: this.name, what: 'raw serial log', cap_bytes: this.rawWritten });
        this.rawLeftOut += chunk.length - Math.max(0, room);
      }
    }
    this.inbox.push({ t, chunk, off: 0 });
    if (!this.pumping) {
      this.pumping = true;
      this.pump();
    }
  }

  /**
   * Emit the split lines, and split the next slice of the inbox when they are done; then go on as
   * a microtask. While a wait is pending, each line is followed by `log.flush()` (subscribers and
   * waits run), and when one settles, its continuation is queued: the pump stops right there and
   * goes on as a microtask after it, so the waiting code runs right after its line is dispatched,
   * not after the lines split with it. Otherwise the slice (1 KiB) is flushed at its end. Microtasks
   * drain before the next read is delivered, so the inbox never holds more than one chunk.
   */
  private readonly pump = (): void => {
    const log = this.log;
    const settled = log.settledWaits;
    let split = false;
    for (;;) {
      if (this.nextLine()) {
        // Dispatching line by line costs a few % of a line; only worth it while something waits.
        if (log.pendingWaits > 0) {
          log.flush();
          if (log.settledWaits !== settled) break;
        }
        continue;
      }
      this.cutPending();
      if (split) break;
      if (!this.splitSlice()) {
        log.flush();
        this.pumping = false;
        return;
      }
      split = true;
    }
    log.flush(); // a cut line's head, if any
    queueMicrotask(this.pump);
  };

  /** Split the next slice of the inbox into lines, to be emitted by {@link nextLine}. False when the inbox is empty. */
  private splitSlice(): boolean {
    const head = this.inbox[0];
    if (!head) return false;
    const end = Math.min(head.chunk.length, head.off + SLICE_BYTES);
    this.chunkT = head.t;
    const sp = this.splitter;
    sp.feed(head.off === 0 && end === head.chunk.length ? head.chunk : head.chunk.subarray(head.off, end));
    head.off = end;
    if (end === head.chunk.length) this.inbox.shift();
    this.lineBuf = sp.lines;
    this.linePos = sp.start;
    this.lineEnd = sp.end;
    this.lineText = undefined;
    if (sp.end > sp.start) {
      // One decode for the slice's lines; kept only if it is plainly one char per byte (no
      // multi-byte or invalid sequence: those decode to fewer chars or to U+FFFD) and has no NUL.
      const text = sp.lines.toString('utf8', sp.start, sp.end);
      if (text.length === sp.end - sp.start && !text.includes('\uFFFD') && !text.includes('\0')) {
        this.lineText = text;
        this.textBase = sp.start;
      }
    }
    return true;
  }

  /** After a slice's lines: a line without end grown past the limit keeps its head; the rest is dropped until the next newline. */
  private cutPending(): void {
    const pending = this.splitter.pending;
    if (pending.length > this.maxLine) {
      if (!this.discarding) this.emit(pending, 0, this.maxLine, true);
      this.discarding = true;
      this.splitter.pending = EMPTY;
    }
  }

  /** Emit the next split line. False when there is none. */
  private nextLine(): boolean {
    const start = this.linePos;
    if (start >= this.lineEnd) return false;
    const text = this.lineText;
    const base = this.textBase;
    const nl = text !== undefined ? text.indexOf('\n', start - base) + base : this.lineBuf.indexOf(10, start);
    this.linePos = nl + 1;
    if (this.discarding) {
      this.discarding = false; // the tail of a line we already cut
      return true;
    }
    const truncated = nl - start > this.maxLine;
    const end = truncated ? start + this.maxLine : nl;
    if (text === undefined) {
      this.emit(this.lineBuf, start, end, truncated);
      return true;
    }
    let e = end - base;
    if (e > start - base && text.charCodeAt(e - 1) === 13) e--;
    this.emitText(text.slice(start - base, e), truncated);
    return true;
  }

  /** Emit bytes `[start, end)` of `buf` as a line: decoded, its invalid UTF-8 and NULs counted. */
  private emit(buf: Buffer, start: number, end: number, truncated: boolean): void {
    if (end > start && buf[end - 1] === 13) end--;
    let text = buf.toString('utf8', start, end);
    if (text.includes('\uFFFD') && !isUtf8(buf.subarray(start, end))) this.counters.invalidUtf8++;
    if (text.includes('\0')) {
      this.counters.nul++;
      text = text.replace(/\0/g, '\u2400');
    }
    this.emitText(text, truncated);
  }

  private emitText(text: string, truncated: boolean): void {
    this.counters.lines++;
    if (truncated) {
      this.counters.truncated++;
      this.log.append({ t: this.chunkT, source: this.name, kind: 'truncated', text, fields: { cap: this.maxLine } });
      return;
    }
    const d = this.decoder.decode(text);
    this.log.append(
      d.seq !== undefined
        ? { t: this.chunkT, source: this.name, kind: d.kind, text, fields: d.fields!, seq: d.seq, tDev: d.tDev! }
        : d.fields
          ? { t: this.chunkT, source: this.name, kind: d.kind, text, fields: d.fields }
          : { t: this.chunkT, source: this.name, kind: d.kind, text },
    );
  }

  private onClose(port: SerialPortStream, err?: Error & { disconnected?: boolean }): void {
    if (port !== this.port) return;
    this.port = undefined;
    port.off('data', this.onData);
    if (this.st === 'closing' || this.st === 'closed') return;
    this.counters.disconnects++;
    this.flushPartial();
    this.log.record(this.name, 'disconnect', { path: this.path ?? '', reason: err?.message ?? 'closed' });
    const rc = this.options.reconnect;
    if (rc === false) {
      this.st = 'faulted';
      return;
    }
    this.st = 'reconnecting';
    void this.reconnect(rc ?? {});
  }

  /**
   * A device that resets mid-line leaves a fragment: record it, undecoded — after the lines
   * still waiting in the inbox, so the record keeps the order the bytes came in.
   */
  private flushPartial(): void {
    do {
      while (this.nextLine());
      this.cutPending();
    } while (this.splitSlice());
    const rest = this.splitter.pending;
    this.splitter.pending = EMPTY;
    if (rest.length > 0 && !this.discarding) {
      this.log.append({ t: this.chunkT, source: this.name, kind: 'partial', text: rest.toString('utf8').replace(/\r$/, '') });
    }
    this.discarding = false;
  }

  /** Reopen the port with backoff (the first attempt after `initialMs`) until it opens, the attempts run out or the source closes. */
  private async reconnect(rc: { initialMs?: number; maxMs?: number; maxAttempts?: number }): Promise<void> {
    this.retry = retryWithBackoff(this.clock, () => this.connect(), {
      initialMs: rc.initialMs ?? 50,
      maxMs: rc.maxMs ?? 2000,
      ...(rc.maxAttempts !== undefined ? { maxAttempts: rc.maxAttempts } : {}),
      wanted: () => this.st === 'reconnecting',
    });
    const end = await this.retry.done;
    this.retry = undefined;
    if (end.ok) {
      // Closed while the port was opening: let go of it.
      if (this.st !== 'reconnecting') {
        this.port?.close(noop);
        return;
      }
      this.st = 'ready';
      this.counters.reconnects++;
      this.log.record(this.name, 'reconnect', { path: this.path ?? '', attempts: end.attempts });
    } else if (end.why === 'attempts') {
      this.st = 'faulted';
      this.log.record(this.name, 'fault', { reason: `gave up reopening ${describePortSpec(this.options.port)} after ${end.attempts} attempts` });
    }
  }

  async write(data: string | Buffer): Promise<void> {
    const port = this.port;
    if (this.st !== 'ready' || !port) throw new StateError(this.name, this.st, 'write');
    await new Promise<void>((resolve, reject) => {
      port.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    if (this.st === 'closed' || this.st === 'idle') {
      this.st = 'closed';
      return;
    }
    this.st = 'closing';
    this.retry?.cancel();
    const port = this.port;
    this.port = undefined;
    if (port) {
      port.off('data', this.onData);
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    this.flushPartial();
    await this.closeRaw();
    this.st = 'closed';
  }

  /**
   * Keep bytes for the raw log, written in batches of {@link RAW_BATCH_BYTES} or after
   * {@link RAW_BATCH_MS}, whichever comes first: one file write per read (a PTY read is about
   * 4 KiB) woke a thread-pool thread each time, and on a 2-core host that competed with the reader
   * itself (a fifth of its time in a profile of a flood).
   */
  private rawWrite(bytes: Buffer): void {
    this.rawBatch.push(bytes);
    this.rawBatchBytes += bytes.length;
    if (this.rawBatchBytes >= RAW_BATCH_BYTES) this.rawFlush();
    else this.rawTimer ??= setTimeout(this.rawFlush, RAW_BATCH_MS).unref();
  }

  private readonly rawFlush = (): void => {
    if (this.rawTimer) clearTimeout(this.rawTimer);
    this.rawTimer = undefined;
    const batch = this.rawBatch;
    if (batch.length === 0) return;
    this.rawBatch = [];
    this.rawBatchBytes = 0;
    this.raw?.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
  };

  private async closeRaw(): Promise<void> {
    this.rawFlush();
    const raw = this.raw;
    this.raw = undefined;
    if (raw && this.rawLeftOut > 0) raw.write(`\n[hil: raw log capped at ${this.rawWritten} bytes; ${this.rawLeftOut} more bytes were read and left out]\n`);
    if (raw) await new Promise<void>((resolve) => raw.end(resolve));
  }
}
