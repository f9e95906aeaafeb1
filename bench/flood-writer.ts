/**
 * Benchmark writer: a separate process that owns a PTY and floods its master with 60-byte
 * telemetry lines, as fast as the kernel takes them (blocking 64 KiB writes on the raw master
 * fd, so the writer is never the bottleneck). Protocol on stdin/stdout (JSON lines): it prints
 * {"path": "/dev/pts/N"}; on {"go": lines, "markEvery": k} it writes `lines` lines with a `mark`
 * line every k lines, then prints {"done": true, "ms": …}; {"exit": true} ends it.
 */
import fs from 'node:fs';
import tty from 'node:tty';
import readline from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const native = require('node-pty/build/Release/pty.node') as { open(c: number, r: number): { master: number; slave: number; pty: string } };
const t = native.open(80, 24);
const slave = new tty.ReadStream(t.slave);
slave.setRawMode(true);
process.stdout.write(JSON.stringify({ path: t.pty }) + '\n');

const BTNS = ['PRESSURE_UP', 'PRESSURE_DOWN', 'SAFETY_ROD_UP', 'EMERGENCY'];

/** 60-byte lines (the figure the targets are stated for). */
function line(seq: number, markEvery: number): string {
  const tUs = 1_000_000_000 + seq * 2;
  if (seq % markEvery === 0) return `HIL ${seq} ${tUs} mark id=${seq / markEvery} pad=xxxxxxxxxxxxxxxxxx\n`;
  const depth = seq % 100;
  return `HIL ${seq} ${tUs} q_put btn=${BTNS[seq & 3]} depth=${depth} cap=100\n`;
}

function writeAll(buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(t.master, buf, off);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

let nextSeq = 1; // continues across floods, as a device's seq does

function flood(total: number, markEvery: number): void {
  const t0 = process.hrtime.bigint();
  const chunk = 1000; // ~60 KB per write
  const last = nextSeq + total - 1;
  for (let seq = nextSeq; seq <= last; ) {
    let s = '';
    for (let k = 0; k < chunk && seq <= last; k++, seq++) s += line(seq, markEvery);
    writeAll(Buffer.from(s));
  }
  nextSeq = last + 1;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ done: true, ms }) + '\n');
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const msg = JSON.parse(l) as { go?: number; markEvery?: number; exit?: boolean };
  if (msg.exit) {
    slave.destroy();
    fs.closeSync(t.master);
    process.exit(0);
  }
  if (msg.go) flood(msg.go, msg.markEvery ?? 1000);
});
