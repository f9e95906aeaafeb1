import fs from 'node:fs';
import { stringify } from 'csv-stringify/sync';

/**
 * A CSV file written one complete row per `write(2)`: the header at open, then each row as soon as
 * it is added. A row handed to the kernel survives the process being killed (even SIGKILL), so an
 * interrupted run always leaves a valid file holding every row added so far. No fsync: a power
 * loss of the host itself is not covered.
 */
export class CsvAppendFile {
  private fd: number | undefined;
  /** Bytes of whole records on disk: a failed write is cut back to this, so no half row is left. */
  private size = 0;
  rows = 0;

  constructor(
    readonly path: string,
    private readonly columns: readonly string[],
  ) {
    try {
      // 'wx': a recorded run is never overwritten by a second writer.
      this.fd = fs.openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new Error(`report file ${path} already exists; a run folder is written once (use a new run id)`, { cause: error });
      }
      throw error;
    }
    this.writeRecord(columns);
  }

  /** Append one row; `cells` must be in column order. */
  append(cells: readonly string[]): void {
    if (cells.length !== this.columns.length) {
      throw new RangeError(`${this.path}: a row needs ${this.columns.length} cells (${this.columns.join(', ')}); got ${cells.length}`);
    }
    this.writeRecord(cells);
    this.rows++;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }

  private writeRecord(cells: readonly string[]): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    // csv-stringify quotes any cell holding a comma, quote, CR or LF. (Its own escape_formulas
    // would also turn a negative number into text.)
    const buf = Buffer.from(stringify([cells.map(neutraliseFormula)]), 'utf8');
    writeWhole(this.fd, buf, this.size);
    this.size += buf.length;
  }
}

/**
 * Append `buf` to the file whole, or not at all: a write that fails part way (a full disk) is cut
 * back to `size`, the length of what was whole before, and the error is thrown.
 */
export function writeWhole(fd: number, buf: Buffer, size: number): void {
  let off = 0;
  try {
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
  } catch (error) {
    if (off > 0) {
      try {
        fs.ftruncateSync(fd, size);
      } catch {
        // the error below says what failed
      }
    }
    throw error;
  }
}

/**
 * Appends whole buffers to one open file (see {@link writeWhole}). After the first write that
 * fails (a full disk) it writes nothing more: the error goes to `onError`, or is thrown without one.
 */
export class WholeAppender {
  /** What is whole in the file so far (a header written before this took over counts). */
  private size: number;
  failed = false;

  constructor(
    readonly fd: number,
    private readonly onError?: (error: Error) => void,
  ) {
    this.size = fs.fstatSync(fd).size;
  }

  /** False once a write has failed (now or before). */
  append(buf: Buffer): boolean {
    if (this.failed) return false;
    try {
      writeWhole(this.fd, buf, this.size);
      this.size += buf.length;
      return true;
    } catch (error) {
      this.failed = true;
      if (!this.onError) throw error;
      this.onError(error as Error);
      return false;
    }
  }
}

/** A cell a spreadsheet would run as a formula; a leading run of `'` is included so the escape is reversible. */
const FORMULA = /^'*[=+\-@\t\r]/;
/** A plain number (what the writers format numbers as): written as it is. */
const NUMBER = /^[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?$/i;

/**
 * Text a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a CR) gets
 * a leading `'`, which spreadsheets show as text; numbers are left alone. Cells that already start
 * with `'` before such a character get one more, so {@link restoreFormula} is exact.
 */
export function neutraliseFormula(cell: string): string {
  return FORMULA.test(cell) && !NUMBER.test(cell) ? `'${cell}` : cell;
}

/** The inverse of {@link neutraliseFormula}, for reading a report back. */
export function restoreFormula(cell: string): string {
  return cell.startsWith("'") && FORMULA.test(cell) && !NUMBER.test(cell.slice(1)) ? cell.slice(1) : cell;
}
