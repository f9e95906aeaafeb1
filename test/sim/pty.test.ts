import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ReadlineParser, SerialPort } from 'serialport';
import { PtyPair } from '../../harness/sim/pty.ts';

// A PtyPair is the device end of a simulated serial link. What matters: a device that prints
// while nobody reads never freezes the sim (output is held up to a bound, then dropped and
// counted), and held output reaches a host that reads, complete and in order.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bytes 0..n-1 of a recognisable pattern (a lost or reordered chunk shows up as a mismatch). */
function pattern(n: number, offset = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (offset + i) % 251;
  return b;
}

function openHost(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 115200 }, (err) => (err ? reject(err) : resolve(port)));
  });
}

describe('sim PtyPair', function () {
  this.timeout(15_000);
  const pairs: PtyPair[] = [];
  const ports: SerialPort[] = [];
  const pair = (opts?: ConstructorParameters<typeof PtyPair>[0]): PtyPair => {
    const p = new PtyPair(opts);
    pairs.push(p);
    return p;
  };
  afterEach(async () => {
    for (const port of ports.splice(0)) if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
    for (const p of pairs.splice(0)) p.close();
  });

  it('is a real PTY: the slave path exists, host writes arrive as `data`', async function () {
    const p = pair();
    assert.match(p.path, /^\/dev\/pts\/\d+$/);
    assert.ok(fs.existsSync(p.path));
    const port = await openHost(p.path);
    ports.push(port);
    const got: Buffer[] = [];
    p.on('data', (b: Buffer) => got.push(b));
    port.write(Buffer.from('hello\n'));
    const deadline = Date.now() + 3000;
    while (Buffer.concat(got).toString() !== 'hello\n') {
      assert.ok(Date.now() < deadline, `expected "hello\\n" from the host; got ${JSON.stringify(Buffer.concat(got).toString())}`);
      await sleep(5);
    }
  });

  it('never blocks with nobody reading: once nothing is taken for stallMs, the backlog is bounded and the rest is dropped and counted', async function () {
    const p = pair({ maxBacklog: 64 * 1024, stallMs: 100 });
    const chunk = pattern(4096);
    const total = 1024 * 1024;
    let refused = 0;
    const t0 = process.hrtime.bigint();
    for (let sent = 0; sent < total; sent += chunk.length) if (!p.write(chunk)) refused++;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // A blocking write would never return at all (nobody reads); the bound only catches pathologies.
    assert.ok(ms < 2000, `1 MiB of writes took ${ms.toFixed(0)} ms`);
    assert.ok(refused > 0, 'writes report that output was held back');
    // Nothing taken for stallMs: no host is reading, and what a UART's receiver would not hold goes.
    await sleep(300);
    assert.ok(p.dropped > 0, 'output beyond the backlog is dropped once nobody reads');
    assert.ok(p.dropped <= total - 64 * 1024, `dropped ${p.dropped} of ${total}: at least the backlog is kept`);
    // The event loop keeps running: the retry timer does not spin it.
    const tick = process.hrtime.bigint();
    await sleep(20);
    assert.ok(Number(process.hrtime.bigint() - tick) / 1e6 < 1000);
    // Still nobody reading: drops keep being counted, never thrown.
    const before = p.dropped;
    for (let i = 0; i < 32; i++) p.write(chunk); // 128 KiB, twice the backlog
    assert.ok(p.dropped >= before + 64 * 1024, `dropped ${p.dropped - before} of 128 KiB more`);
  });

  it('paces for a host that reads: 1 MB written at once, then a ready line: all of it arrives, the ready line last, nothing dropped', async function () {
    // Default options: the sim's console as every device has it. A UART would deliver all of this,
    // later; before, everything past the 64 KiB backlog was dropped, the ready line with it.
    const p = pair();
    const port = await openHost(p.path);
    ports.push(port);
    const parser = port.pipe(new ReadlineParser({ delimiter: '\n' }));
    const lines: string[] = [];
    parser.on('data', (l: string) => lines.push(l));
    const flood = Buffer.alloc(1_000_000, 'x'.charCodeAt(0));
    for (let i = 99; i < flood.length; i += 100) flood[i] = 0x0a; // 100-byte lines
    p.write(flood);
    p.write('🚀 Control panel ready\n');
    const deadline = Date.now() + 10_000;
    while (lines.at(-1) !== '🚀 Control panel ready') {
      assert.ok(Date.now() < deadline, `no ready line within 10 s; ${lines.length} lines arrived, ${p.dropped} bytes dropped`);
      await sleep(10);
    }
    assert.equal(p.dropped, 0);
    assert.equal(lines.length, flood.length / 100 + 1, 'every flood line arrived before the ready line');
  });

  it('drain(): held-back output reaches a reading host, complete and in order', async function () {
    const p = pair({ maxBacklog: 4 * 1024 * 1024 });
    const port = await openHost(p.path);
    ports.push(port);
    const got: Buffer[] = [];
    let n = 0;
    port.on('data', (b: Buffer) => {
      got.push(b);
      n += b.length;
    });
    const total = 512 * 1024;
    const accepted = p.write(pattern(total));
    assert.equal(accepted, false, 'half a MiB does not fit the kernel buffer at once');
    await p.drain();
    assert.equal(p.dropped, 0);
    const deadline = Date.now() + 5000;
    while (n < total) {
      assert.ok(Date.now() < deadline, `host received ${n} of ${total} bytes`);
      await sleep(5);
    }
    assert.ok(Buffer.concat(got).equals(pattern(total)), 'bytes arrive complete and in order');
  });

  it('after close(): writes are refused, drain() resolves, the slave path is gone', async function () {
    const p = pair();
    const slave = p.path;
    const ctime = fs.statSync(slave).ctimeMs;
    p.write(pattern(200 * 1024)); // leaves a backlog (nobody reads)
    const drained = p.drain();
    p.close();
    await drained;
    assert.equal(p.isClosed, true);
    assert.equal(p.write('x'), false);
    await p.drain();
    // Both ends closed: the kernel removes the node (a node with another ctime is someone else's new PTY).
    const deadline = Date.now() + 2000;
    while (fs.existsSync(slave) && fs.statSync(slave).ctimeMs === ctime) {
      assert.ok(Date.now() < deadline, `${slave} still exists after close()`);
      await sleep(10);
    }
  });
});
