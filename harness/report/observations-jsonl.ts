import fs from 'node:fs';
import readline from 'node:readline';
import type { FieldValue, Observation } from '../core/observation.ts';
import { Priority, type ObservationLog } from '../core/observation-log.ts';
import { writeWhole } from './_internals/csv-file.ts';
import { FlushTimer } from './_internals/flush-timer.ts';

export const OBSERVATIONS_FILE = 'observations.jsonl';

export interface ObservationFileWriterOptions {
  /** Longest an observation waits in memory before it is written, in ms of the log's clock. Default 200. */
  flushMs?: number;
  /** Write as soon as this many bytes are waiting. Default 256 KiB. */
  maxBufferBytes?: number;
  /**
   * Most bytes one source (a device) may take in the file; past it its observations are counted,
   * not written, so a flooding device cannot fill the disk. The harness's own sources are never
   * capped. At close, one `harness.log_cap` observation per capped source says how many were left
   * out. Default 256 MiB.
   */
  maxBytesPerSource?: number;
  /**
   * A write failed (a full disk): the file keeps its whole lines, the writer stops writing, and
   * this hears why. Default: the error is thrown from the flush.
   */
  onError?: (error: Error) => void;
}

/**
 * Writes every observation of a log to a JSON-lines file (`observations.jsonl`), one object per
 * line, `t` as a decimal string of ns. Subscribes at {@link Priority.REPORT}, so it sees
 * everything dispatched from the moment it is created: create it before the run starts.
 *
 * Lines are batched and written at most `flushMs` after they were dispatched, or sooner when the
 * batch grows large; {@link close} dispatches what the log still holds and writes it
 * synchronously. A hard kill loses at most the last batch; each batch is whole lines.
 */
export class ObservationFileWriter {
  private fd: number | undefined;
  private buffer: string[] = [];
  private bytes = 0;
  private readonly flushTimer: FlushTimer;
  private readonly unsubscribe: () => void;
  private readonly flushMs: number;
  private readonly maxBytes: number;
  /** Observations written so far (to the kernel). */
  written = 0;
  /** Bytes of whole lines on disk. */
  private size = 0;
  private readonly perSource = new Map<string, { bytes: number; leftOut: number }>();
  private readonly maxPerSource: number;
  /** Why writing stopped (a failed write), if it did. */
  failed: Error | undefined;
  private readonly onError: ((error: Error) => void) | undefined;

  constructor(
    private readonly log: ObservationLog,
    readonly path: string,
    options: ObservationFileWriterOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 200;
    this.flushTimer = new FlushTimer(log.clock, this.flushMs, () => this.flush());
    this.maxBytes = options.maxBufferBytes ?? 256 * 1024;
    this.onError = options.onError;
    this.maxPerSource = options.maxBytesPerSource ?? 256 * 1024 * 1024;
    if (!(this.flushMs >= 0)) throw new RangeError(`ObservationFileWriter: flushMs must be >= 0; got ${this.flushMs}`);
    try {
      this.fd = fs.openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new Error(`${path} already exists; a run folder is written once (use a new run id)`, { cause: error });
      }
      throw error;
    }
    this.unsubscribe = log.on('*', (o) => this.add(o), { priority: Priority.REPORT, name: 'observations.jsonl' });
  }

  private add(o: Observation): void {
    if (this.fd === undefined || this.failed) return;
    const line = serializeObservation(o) + '\n';
    if (o.source !== 'harness') {
      const c = this.perSource.get(o.source) ?? this.perSource.set(o.source, { bytes: 0, leftOut: 0 }).get(o.source)!;
      if (c.bytes + line.length > this.maxPerSource) {
        c.leftOut++;
        return;
      }
      c.bytes += line.length;
    }
    this.buffer.push(line);
    this.bytes += line.length;
    if (this.bytes >= this.maxBytes) this.flush();
    else this.flushTimer.due();
  }

  /** Write what is buffered now. */
  flush(): void {
    this.flushTimer.cancel();
    if (this.fd === undefined || this.buffer.length === 0 || this.failed) return;
    const n = this.buffer.length;
    const buf = Buffer.from(this.buffer.join(''), 'utf8');
    this.buffer = [];
    this.bytes = 0;
    try {
      writeWhole(this.fd, buf, this.size);
    } catch (error) {
      // Whole lines only, and nothing more from here on: the run hears why.
      this.failed = error as Error;
      if (!this.onError) throw error;
      this.onError(this.failed);
      return;
    }
    this.size += buf.length;
    this.written += n;
  }

  /** Dispatch what the log still holds, write everything, close the file. Idempotent. */
  /** Observations left out per capped source. */
  leftOut(): Map<string, number> {
    return new Map([...this.perSource].filter(([, c]) => c.leftOut > 0).map(([k, c]) => [k, c.leftOut]));
  }

  close(): void {
    if (this.fd === undefined) return;
    this.log.flush();
    for (const [source, n] of this.leftOut()) this.log.record('harness', 'log_cap', { part: source, what: OBSERVATIONS_FILE, left_out: n, cap_bytes: this.maxPerSource });
    this.log.flush();
    this.unsubscribe();
    try {
      this.flush();
    } finally {
      const fd = this.fd;
      this.fd = undefined;
      fs.closeSync(fd);
    }
  }
}

/** One observation as one JSON line (without the newline). */
export function serializeObservation(o: Observation): string {
  // Fixed key order keeps files diffable; bigint is not JSON, so `t` is its decimal string.
  const out: Record<string, unknown> = { i: o.i, t: o.t.toString(), source: o.source, kind: o.kind };
  if (o.text !== undefined) out.text = o.text;
  if (o.fields !== undefined) out.fields = o.fields;
  if (o.seq !== undefined) out.seq = o.seq;
  if (o.tDev !== undefined) out.tDev = o.tDev;
  return JSON.stringify(out);
}

/** Parse one line written by {@link serializeObservation}. Throws a message naming what is wrong. */
export function parseObservation(line: string): Observation {
  const v: unknown = JSON.parse(line);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
  const r = v as Record<string, unknown>;
  if (typeof r.i !== 'number' || !Number.isInteger(r.i)) throw new Error(`"i" must be an integer; got ${JSON.stringify(r.i)}`);
  if (typeof r.t !== 'string' || !/^-?\d+$/.test(r.t)) throw new Error(`"t" must be a decimal string of ns; got ${JSON.stringify(r.t)}`);
  if (typeof r.source !== 'string') throw new Error(`"source" must be a string; got ${JSON.stringify(r.source)}`);
  if (typeof r.kind !== 'string') throw new Error(`"kind" must be a string; got ${JSON.stringify(r.kind)}`);
  const o: { -readonly [K in keyof Observation]: Observation[K] } = { i: r.i, t: BigInt(r.t), source: r.source, kind: r.kind };
  if (r.text !== undefined) {
    if (typeof r.text !== 'string') throw new Error(`"text" must be a string; got ${JSON.stringify(r.text)}`);
    o.text = r.text;
  }
  if (r.fields !== undefined) {
    if (typeof r.fields !== 'object' || r.fields === null || Array.isArray(r.fields)) throw new Error('"fields" must be an object');
    const fields: Record<string, FieldValue> = {};
    for (const [k, fv] of Object.entries(r.fields)) {
      if (typeof fv !== 'string' && typeof fv !== 'number') throw new Error(`field ${JSON.stringify(k)} must be a string or a number; got ${JSON.stringify(fv)}`);
      fields[k] = fv;
    }
    o.fields = fields;
  }
  if (r.seq !== undefined) {
    if (typeof r.seq !== 'number') throw new Error(`"seq" must be a number; got ${JSON.stringify(r.seq)}`);
    o.seq = r.seq;
  }
  if (r.tDev !== undefined) {
    if (typeof r.tDev !== 'number') throw new Error(`"tDev" must be a number; got ${JSON.stringify(r.tDev)}`);
    o.tDev = r.tDev;
  }
  return o;
}

/**
 * Stream the observations of an `observations.jsonl` file. A malformed line throws an error
 * naming the file and line, except an unfinished last line (the run was killed mid-write), which
 * is skipped.
 */
export async function* streamObservations(file: string): AsyncGenerator<Observation> {
  const size = fs.statSync(file).size;
  const endsWithNewline = size === 0 || lastByte(file, size) === 0x0a;
  const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  let pendingError: Error | undefined;
  try {
    for await (const line of rl) {
      n++;
      // An error is only fatal once we know the bad line was not the last, unfinished one.
      if (pendingError) throw pendingError;
      if (line.trim() === '') continue;
      let o: Observation;
      try {
        o = parseObservation(line);
      } catch (error) {
        pendingError = new Error(`${file}:${n}: not an observation: ${(error as Error).message}`, { cause: error });
        continue;
      }
      yield o;
    }
  } finally {
    rl.close();
  }
  if (pendingError && endsWithNewline) throw pendingError;
}

/** All observations of an `observations.jsonl` file (see {@link streamObservations}). */
export async function readObservations(file: string): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const o of streamObservations(file)) out.push(o);
  return out;
}

function lastByte(file: string, size: number): number {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, size - 1);
    return b[0]!;
  } finally {
    fs.closeSync(fd);
  }
}
