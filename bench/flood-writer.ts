/**
 * Benchmark writer: a separate process that owns a PTY and floods its master with the telemetry
 * of a healthy, busy panel, as fast as the kernel takes it (blocking 64 KiB writes on the raw master
 * fd, so the writer is never the bottleneck). What it prints is what the invariants accept:
 *
 * - events, four lines each (about 60 bytes a line): `cb btn=… dur_us=40`, `q_put btn=… depth=1
 *   cap=100`, `q_get btn=… depth=0`, `done btn=…` (no `edge`: the bench presses no relay, and a
 *   callback with no edge is a firmware's own event);
 * - `hb thread=…` for each of the panel's threads every 250 ms of device time, and a `state` line
 *   (unchanged values) every 100 ms, during a flood and while idle between floods, as a device does;
 * - a continuous `seq` over the whole life of the writer, and a device clock (µs) that runs with the
 *   real one: each chunk's lines share the time since the previous chunk.
 *
 * Protocol on stdin/stdout (JSON lines): it prints {"path": "/dev/pts/N"}; on {"go": lines,
 * "markEvery": k} it writes `lines` lines (heartbeats and state included) with a `mark id=n` line
 * every k lines, then prints {"done": true, "ms": …}; {"exit": true} ends it.
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

const BTNS = ['PRESSURE_UP', 'PRESSURE_DOWN', 'SHIM_ROD_UP', 'PUMP_PRIMARY_ON'];
const THREADS = ['irq', 'processor', 'control', 'esplink'];
const HB_US = 250_000;
const STATE_US = 100_000;
const STATE = 'reactor=1 pressure=1200 pump_primary=ON pump_secondary=OFF pump_tertiary=OFF power=1';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
/** The device's clock: the host's, offset (a device boots at 0 µs; any offset will do). */
const OFFSET_US = nowUs() - 5_000_000;
let devUs = nowUs() - OFFSET_US;

let seq = 0; // continues across floods, as a device's seq does
let processed = 0;
let nextHb = devUs;
let nextState = devUs;
let event = 0;
let marks = 0;

/** Due heartbeats and state lines at device time `us`. */
function periodic(us: number): string {
  let s = '';
  if (us >= nextHb) {
    for (const th of THREADS) s += `HIL ${++seq} ${us} hb thread=${th} depth=0 processed=${processed}\n`;
    nextHb = us + HB_US;
  }
  if (us >= nextState) {
    s += `HIL ${++seq} ${us} state ${STATE}\n`;
    nextState = us + STATE_US;
  }
  return s;
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

function countLines(s: string): number {
  let n = 0;
  for (let k = s.indexOf('\n'); k >= 0; k = s.indexOf('\n', k + 1)) n++;
  return n;
}

/** The rest of the current event, if one is half printed. */
function finishEvent(us: number): string {
  let s = '';
  while ((event & 3) !== 0) s += eventLine(us);
  return s;
}

/** The next line of the events: callback, put, take, done (the processor keeps up). */
function eventLine(us: number): string {
  const b = BTNS[(event >> 2) & 3]!;
  switch (event++ & 3) {
    case 0:
      return `HIL ${++seq} ${us} cb btn=${b} dur_us=40 pad=xxxxx\n`;
    case 1:
      return `HIL ${++seq} ${us} q_put btn=${b} depth=1 cap=100\n`;
    case 2:
      return `HIL ${++seq} ${us} q_get btn=${b} depth=0 wait_us=25\n`;
    default:
      processed++;
      return `HIL ${++seq} ${us} done btn=${b} dur_us=30 pad=xxxxxxx\n`;
  }
}

function flood(total: number, markEvery: number): void {
  const t0 = process.hrtime.bigint();
  const CHUNK = 1000; // ~60 KB per write
  let sent = 0;
  while (sent < total) {
    // This chunk's lines share the device time since the previous chunk, evenly.
    const from = devUs;
    const to = Math.max(from + 1, nowUs() - OFFSET_US);
    const n = Math.min(CHUNK, total - sent);
    let s = '';
    let k = 0;
    while (k < n) {
      const us = from + Math.floor(((to - from) * k) / n);
      const p = periodic(us);
      if (p) {
        s += p;
        k += countLines(p);
        continue;
      }
      if ((sent + k + 1) % markEvery === 0) {
        s += `HIL ${++seq} ${us} mark id=${++marks} pad=xxxxxxxxxxxxxxxxxxxxx\n`;
        k++;
        continue;
      }
      s += eventLine(us);
      k++;
    }
    devUs = to;
    // Each write ends on an event's last line: the writer, descheduled between two writes on a
    // loaded host, must not make one event's lines look printed hundreds of ms apart.
    const tail = finishEvent(to);
    writeAll(Buffer.from(s + tail));
    sent += k + countLines(tail);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ done: true, ms, lines: sent }) + '\n');
}

/** Idle: a healthy device still beats and reports its state. */
const idle = setInterval(() => {
  devUs = Math.max(devUs, nowUs() - OFFSET_US);
  const s = periodic(devUs);
  if (s) writeAll(Buffer.from(s));
}, 50);

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const msg = JSON.parse(l) as { go?: number; markEvery?: number; exit?: boolean };
  if (msg.exit) {
    clearInterval(idle);
    slave.destroy();
    fs.closeSync(t.master);
    process.exit(0);
  }
  if (msg.go) flood(msg.go, msg.markEvery ?? 1000);
});
