/**
 * The prebuilt StandardFirmata image for an Arduino Uno, and an Intel HEX loader for avr8js.
 *
 * The image is not vendored: it is the one avrgirl-arduino 5.0.1 ships (`junk/hex/uno/`), fetched
 * with `npm pack` (the package itself cannot be installed here: it has a git dependency) and kept
 * in `<repo>/.cache/avr/`, which is gitignored.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** ATmega328P flash: 32 KiB = 16,384 program words. */
export const ATMEGA328P_FLASH_BYTES = 32 * 1024;

const PACKAGE = 'avrgirl-arduino@5.0.1';
const MEMBER = 'package/junk/hex/uno/StandardFirmata.cpp.hex';
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Where {@link ensureStandardFirmataHex} keeps the image. */
export const DEFAULT_HEX_CACHE = path.join(REPO_ROOT, '.cache', 'avr', 'StandardFirmata.cpp.hex');

export interface EnsureHexOptions {
  /** Cache file. Default {@link DEFAULT_HEX_CACHE} (`<repo>/.cache/avr/StandardFirmata.cpp.hex`). */
  cacheFile?: string;
  /** Deadline for each of `npm pack` and `tar`. Default 50,000 ms. */
  timeoutMs?: number;
}

/**
 * Path of the Uno StandardFirmata hex, fetching it on first use. Safe to race between processes:
 * each fetch writes a private temporary file next to the cache and renames it into place.
 * Rejects with an Error that says which step failed and how to put the file there by hand.
 */
export async function ensureStandardFirmataHex(options: EnsureHexOptions = {}): Promise<string> {
  const cacheFile = options.cacheFile ?? DEFAULT_HEX_CACHE;
  const timeout = options.timeoutMs ?? 50_000;
  if (fs.existsSync(cacheFile)) return cacheFile;
  const manual =
    `Provide it by hand: on a machine with registry access run \`npm pack ${PACKAGE}\`, then ` +
    `\`tar -xzf avrgirl-arduino-5.0.1.tgz ${MEMBER}\` and copy that file to ${cacheFile}.`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-avr-hex-'));
  try {
    let step = `\`npm pack ${PACKAGE}\``;
    try {
      await run('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--loglevel=error'], { timeout, cwd: tmp });
      const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
      if (!tgz) throw new Error(`no .tgz appeared in ${tmp}`);
      step = `\`tar -xzf ${tgz} ${MEMBER}\``;
      await run('tar', ['-xzf', path.join(tmp, tgz), '-C', tmp, MEMBER], { timeout });
    } catch (error) {
      const e = error as Error & { stderr?: string };
      // npm's first error lines say what went wrong (code, request); the last ones are boilerplate.
      const lines = (e.stderr?.trim() || e.message).split('\n').filter((l) => l.trim() !== '' && l.trim() !== 'npm error');
      const detail = lines.slice(0, 2).join(' | ');
      throw new Error(`Cannot fetch the StandardFirmata hex: ${step} failed (${detail}). ${manual}`, { cause: error });
    }
    const text = fs.readFileSync(path.join(tmp, MEMBER), 'utf8');
    parseIntelHex(text); // refuse to cache a damaged image
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    // Same directory as the target, so the rename is atomic (no cross-device move).
    const part = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}.part`;
    fs.writeFileSync(part, text);
    fs.renameSync(part, cacheFile);
    return cacheFile;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Parse Intel HEX text into AVR program memory (little-endian 16-bit words, erased flash =
 * 0xFFFF). Checks every record's checksum; supports data, EOF, extended segment/linear address
 * and start-address records. Throws naming the line on a malformed record or data past the flash.
 */
export function parseIntelHex(text: string, flashBytes = ATMEGA328P_FLASH_BYTES): Uint16Array {
  const bytes = new Uint8Array(flashBytes).fill(0xff);
  let base = 0;
  let sawEof = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length && !sawEof; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const where = `Intel HEX line ${n + 1}`;
    if (!/^:([0-9A-Fa-f]{2})+$/.test(line)) throw new Error(`${where}: not a record: ${JSON.stringify(line.slice(0, 40))}`);
    const rec = Buffer.from(line.slice(1), 'hex');
    const len = rec[0]!;
    if (rec.length !== len + 5) throw new Error(`${where}: length byte says ${len} data bytes, record holds ${rec.length - 5}`);
    const sum = rec.reduce((a, b) => (a + b) & 0xff, 0);
    if (sum !== 0) throw new Error(`${where}: checksum mismatch`);
    const offset = (rec[1]! << 8) | rec[2]!;
    const type = rec[3]!;
    const data = rec.subarray(4, 4 + len);
    switch (type) {
      case 0x00: {
        const at = base + offset;
        if (at + len > flashBytes) throw new Error(`${where}: data at 0x${at.toString(16)}+${len} is past the ${flashBytes}-byte flash`);
        bytes.set(data, at);
        break;
      }
      case 0x01:
        sawEof = true;
        break;
      case 0x02:
        base = ((data[0]! << 8) | data[1]!) << 4;
        break;
      case 0x04:
        base = ((data[0]! << 8) | data[1]!) << 16;
        break;
      case 0x03:
      case 0x05:
        break; // start address: the AVR always starts at the reset vector
      default:
        throw new Error(`${where}: unknown record type 0x${type.toString(16)}`);
    }
  }
  if (!sawEof) throw new Error('Intel HEX: no end-of-file record (truncated file?)');
  return new Uint16Array(bytes.buffer);
}
