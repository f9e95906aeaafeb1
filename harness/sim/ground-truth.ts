import fs from 'node:fs';

/** One ground-truth record: what really happened on the simulated bench, at true host time. */
export interface TruthRecord {
  /** Host monotonic time in ns (`process.hrtime.bigint()`), as a decimal string in JSON. */
  t: bigint;
  /** What produced it: `relays-a`, `relay:PRESSURE_UP`, `pi`, `esp`, `power:pi`, … */
  src: string;
  /** `coil`, `contact`, `gpio`, `pin`, `edge`, `q_put`, `power`, … */
  kind: string;
  [key: string]: unknown;
}

/** Ground truth held in memory while the disk is full, at most. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/**
 * Append-only JSON-lines writer for the sim's ground truth. Records are buffered and flushed on a
 * short timer and on close, so writing from hot paths costs a push.
 */
export class GroundTruthLog {
  private buf: string[] = [];
  private bufBytes = 0;
  private readonly fd: number | undefined;
  /** Bytes of whole records on disk (a failed write is cut back to this). */
  private size = 0;
  /** Records dropped because the disk stayed full longer than the buffer could hold. */
  dropped = 0;
  /** The last write error, while writes fail (the disk is full); cleared when one succeeds. */
  writeError: Error | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<(r: TruthRecord) => void> = [];

  constructor(path?: string) {
    if (path) {
      this.fd = fs.openSync(path, 'a');
      this.size = fs.fstatSync(this.fd).size;
      this.timer = setInterval(() => this.flush(), 100);
      this.timer.unref();
    }
  }

  record(r: TruthRecord): void {
    for (const l of this.listeners) l(r);
    if (this.fd === undefined) return;
    const line = JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    // While the disk is full the records wait here, up to a bound; the oldest go first after it.
    if (this.writeError && this.bufBytes > MAX_PENDING_BYTES) {
      this.bufBytes -= (this.buf.shift()?.length ?? 0) + 1;
      this.dropped++;
    }
    this.buf.push(line);
    this.bufBytes += line.length + 1;
  }

  /** In-process observers (tests of the sim itself). */
  onRecord(l: (r: TruthRecord) => void): void {
    this.listeners.push(l);
  }

  /**
   * Write what is buffered, whole records only. A failed write (a full disk) keeps the records
   * for the next flush instead of ending the bench: the sim survives its disk filling up.
   */
  flush(): void {
    if (this.fd === undefined || this.buf.length === 0) return;
    const data = Buffer.from(this.buf.join('\n') + '\n', 'utf8');
    let off = 0;
    try {
      while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
    } catch (error) {
      if (off > 0) {
        try {
          fs.ftruncateSync(this.fd, this.size);
        } catch {
          // kept in the buffer either way
        }
      }
      if (!this.writeError) process.stderr.write(`sim: ground truth not written (${(error as Error).message}); keeping up to ${MAX_PENDING_BYTES >> 20} MiB of it until it can be\n`);
      this.writeError = error as Error;
      return;
    }
    if (this.writeError) process.stderr.write(`sim: ground truth written again${this.dropped ? ` (${this.dropped} records dropped meanwhile)` : ''}\n`);
    this.writeError = undefined;
    this.size += data.length;
    this.buf = [];
    this.bufBytes = 0;
  }

  close(): void {
    this.flush();
    if (this.writeError) process.stderr.write(`sim: ${this.buf.length} ground-truth records never written (${this.writeError.message})\n`);
    if (this.timer) clearInterval(this.timer);
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }
}

/** Parse a ground-truth file back (tests). */
export function readGroundTruth(path: string): TruthRecord[] {
  return fs
    .readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown> & { t: string; src: string; kind: string };
      return { ...o, t: BigInt(o.t) };
    });
}
