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

/**
 * Append-only JSON-lines writer for the sim's ground truth. Records are buffered and flushed on a
 * short timer and on close, so writing from hot paths costs a push.
 */
export class GroundTruthLog {
  private buf: string[] = [];
  private readonly fd: number | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<(r: TruthRecord) => void> = [];

  constructor(path?: string) {
    if (path) {
      this.fd = fs.openSync(path, 'a');
      this.timer = setInterval(() => this.flush(), 100);
      this.timer.unref();
    }
  }

  record(r: TruthRecord): void {
    for (const l of this.listeners) l(r);
    if (this.fd === undefined) return;
    this.buf.push(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  }

  /** In-process observers (tests of the sim itself). */
  onRecord(l: (r: TruthRecord) => void): void {
    this.listeners.push(l);
  }

  flush(): void {
    if (this.fd === undefined || this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    fs.writeSync(this.fd, text);
  }

  close(): void {
    this.flush();
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
