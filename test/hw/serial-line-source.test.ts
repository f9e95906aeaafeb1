/**
 * One contract suite for the serial line source, run on two transports: serialport's mock
 * binding, and a real pseudo-terminal opened with the native binding (the same code path as a
 * USB adapter on a bench).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SerialPortMock } from 'serialport';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { LineDecoder } from '../../harness/core/decoders.ts';
import { SerialLineSource, type SerialBinding } from '../../harness/hw/serial-line-source.ts';
import type { PortSpec } from '../../harness/hw/port-finder.ts';
import { PtyPair } from '../../harness/sim/pty.ts';

/** What the suite needs from a transport: a port spec, a way to be the device, and to unplug it. */
interface Transport {
  spec: PortSpec;
  binding?: SerialBinding;
  byIdDir?: string;
  /** Send bytes as the device. */
  send(data: Buffer | string): void;
  /** Resolves when what was sent has been taken by the transport. */
  drain(): Promise<void>;
  /** Pull the cable. */
  unplug(): void;
  /** Plug it back in (for the PTY: a new /dev/pts/N behind the same by-id name). */
  replug(): void;
  close(): void;
}

type Factory = () => Transport;

const mockTransport: Factory = () => {
  const MockBinding = SerialPortMock.binding;
  MockBinding.reset(); // the mock's port table is global to the module
  const p = `/dev/mock-${Math.random().toString(36).slice(2)}`;
  MockBinding.createPort(p, { echo: false, record: true });
  let current: { emitData(d: Buffer | string): void; pendingRead: ((e?: Error) => void) | null } | undefined;
  // Wrap open so the suite can reach the port it opened (the binding is injected, as in production).
  const binding = {
    ...MockBinding,
    list: () => MockBinding.list(),
    async open(opts: Parameters<typeof MockBinding.open>[0]) {
      const port = await MockBinding.open(opts);
      current = port as unknown as typeof current;
      return port;
    },
  } as unknown as SerialBinding;
  let unplugged = false;
  return {
    spec: { path: p },
    binding,
    send: (d) => current!.emitData(d),
    drain: () => Promise.resolve(),
    unplug() {
      unplugged = true;
      const read = current?.pendingRead;
      if (current) current.pendingRead = null;
      read?.(Object.assign(new Error('device disconnected'), { disconnected: true }));
    },
    replug() {
      unplugged = false;
    },
    close: () => {
      void unplugged;
      MockBinding.reset();
    },
  };
};

const ptyTransport: Factory = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-byid-'));
  const link = path.join(dir, 'usb-HIL_Sim_Device_SN1234-if00');
  let pty = new PtyPair();
  fs.symlinkSync(pty.path, link);
  return {
    spec: { byId: 'usb-HIL_Sim_Device_SN1234-if00' },
    byIdDir: dir,
    send: (d) => pty.write(d),
    drain: () => pty.drain(),
    unplug: () => {
      pty.close();
      fs.unlinkSync(link);
    },
    replug: () => {
      pty = new PtyPair();
      fs.symlinkSync(pty.path, link);
    },
    close: () => {
      pty.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
};

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const [label, factory] of [
  ['mock binding', mockTransport],
  ['real PTY', ptyTransport],
] as const) {
  describe(`SerialLineSource on ${label}`, function () {
    let t: Transport;
    let log: ObservationLog;
    let src: SerialLineSource;
    let dir: string;

    beforeEach(async function () {
      t = factory();
      log = new ObservationLog();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-raw-'));
      src = new SerialLineSource({
        name: 'pi',
        port: t.spec,
        log,
        decoder: new LineDecoder([{ kind: 'queued', pattern: /⚡ Queued: (?<btn>\w+)/ }]),
        rawLogPath: path.join(dir, 'pi.log'),
        rawLogMaxBytes: 2000,
        maxLineBytes: 64,
        reconnect: { initialMs: 20, maxMs: 200 },
        ...(t.binding ? { binding: t.binding } : {}),
        ...(t.byIdDir ? { resolve: { byIdDir: t.byIdDir, list: () => Promise.reject(Object.assign(new Error('spawn udevadm ENOENT'), { code: 'ENOENT' })) } } : {}),
      });
      await src.open();
    });

    afterEach(async function () {
      await src.close();
      t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const lines = () => [...log.since(0)].filter((o) => o.source === 'pi' && o.text !== undefined);

    it('splits \\n and \\r\\n lines, decodes telemetry and free-form lines, stamps arrival times', async function () {
      const before = process.hrtime.bigint();
      t.send('⚡ Queued: PRESSURE_UP\r\nHIL 7 123456 q_put btn=PRESSURE_UP depth=1 cap=100\nplain line\r\n');
      await until(() => lines().length === 3, 5000, '3 lines');
      const [a, b, c] = lines();
      expect(a!.kind).to.equal('queued');
      expect(a!.fields).to.deep.equal({ btn: 'PRESSURE_UP' });
      expect(a!.text).to.equal('⚡ Queued: PRESSURE_UP');
      expect(b!.kind).to.equal('q_put');
      expect(b!.seq).to.equal(7);
      expect(b!.tDev).to.equal(123456);
      expect(b!.fields).to.deep.equal({ btn: 'PRESSURE_UP', depth: 1, cap: 100 });
      expect(c!.text).to.equal('plain line');
      expect(c!.kind).to.equal('line');
      for (const o of [a!, b!, c!]) expect(o.t >= before && o.t <= process.hrtime.bigint()).to.equal(true);
    });

    it('survives invalid UTF-8, NULs and over-long lines without losing the next line', async function () {
      t.send(Buffer.concat([Buffer.from('bad '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('\n')]));
      t.send(Buffer.from('nul\0here\n'));
      t.send('x'.repeat(200) + '\n');
      t.send('y'.repeat(70));
      t.send('y'.repeat(70) + 'tail\nafter the long one\n');
      t.send(Buffer.concat([Buffer.from([0xe2, 0x9a]), Buffer.from('\nHIL 1 5 boot fw=panel ver=3.3\n')]));
      await until(() => lines().some((o) => o.kind === 'boot'), 5000, 'the boot line');
      const texts = lines().map((o) => o.text);
      expect(texts[0]).to.match(/^bad \uFFFD/);
      expect(texts[1]).to.equal('nul\u2400here');
      expect(texts[2]).to.equal('x'.repeat(64));
      expect(texts[3]).to.equal('y'.repeat(64));
      expect(texts[4]).to.equal('after the long one');
      // An invalid sequence at the end of one line does not leak into the next.
      expect(texts[6]).to.equal('HIL 1 5 boot fw=panel ver=3.3');
      const s = src.stats();
      expect(s.truncated).to.equal(2);
      expect(s.invalidUtf8).to.equal(2);
      expect(s.nul).to.equal(1);
      expect(lines().filter((o) => o.kind === 'truncated')).to.have.length(2);
    });

    it('gives the same lines whether a slice decodes as plain ASCII in one go or line by line', async function () {
      // Slices of 1 KiB are decoded in one go when they are plain ASCII, line by line otherwise:
      // a few KiB mixing plain lines with CR LF, over-long, multi-byte and NUL lines, in one write.
      const kinds = [
        (k: number) => `HIL ${k} ${k * 10} hb thread=irq depth=0\r\n`,
        (k: number) => `plain ${k} ${'p'.repeat(k % 60)}\n`,
        (k: number) => `long ${k} ${'L'.repeat(80)}\n`,
        (k: number) => (k % 7 === 0 ? `⚡ Queued: PRESSURE_UP ${k}\n` : `ok ${k}\r\n`),
        (k: number) => (k % 11 === 0 ? `nul ${k}\0\n` : `HIL ${k} ${k * 10} q_put btn=PRESSURE_UP depth=1 cap=100\n`),
      ];
      let text = '';
      for (let k = 0; k < 150; k++) text += kinds[k % kinds.length]!(k);
      t.send(text);
      const want = text
        .split('\n')
        .slice(0, -1)
        .map((l) => {
          const b = Buffer.from(l.replace(/\r$/, ''));
          const cut = b.length > 64 ? b.subarray(0, 64) : b;
          return cut.toString('utf8').replace(/\r$/, '').replace(/\0/g, '\u2400');
        });
      await until(() => lines().length === want.length, 5000, `${want.length} lines`);
      expect(lines().map((o) => o.text)).to.deep.equal(want);
      expect(lines().filter((o) => o.kind === 'truncated').length).to.equal(src.stats().truncated).and.to.be.above(20);
      expect(src.stats().nul).to.equal(want.filter((l) => l.includes('\u2400')).length);
      expect(lines().filter((o) => o.kind === 'queued')).to.have.length(text.split('⚡').length - 1);
    });

    it('runs the code waiting for a line right after that line, before the lines read with it', async function () {
      // One write of 12 short lines: one read, one slice. The waiting code must run before the
      // lines after its own are split (the log has not reached them yet).
      const waited = log.waitFor({ topic: 'pi.mark', fields: { id: 3 } }, { within: 5000 }).then((m) => ({ index: m.index, next: log.nextIndex }));
      t.send(Array.from({ length: 12 }, (_, k) => `HIL ${k + 1} ${k * 100} ${k === 4 ? 'mark id=3' : 'hb thread=irq'}\n`).join(''));
      const { index, next } = await waited;
      expect(log.at(index)!.text).to.equal('HIL 5 400 mark id=3');
      expect(next, 'lines in the log when the waiting code ran').to.equal(index + 1);
      await until(() => lines().length === 12, 5000, '12 lines');
    });

    it('writes every byte read to the raw log', async function () {
      const bytes = Buffer.concat([Buffer.from('one\r\n'), Buffer.from([0, 1, 2, 0xff]), Buffer.from('two\n')]);
      t.send(bytes);
      await until(() => lines().length === 2, 5000, '2 lines');
      await src.close();
      expect(fs.readFileSync(path.join(dir, 'pi.log')).equals(bytes)).to.equal(true);
    });

    it('writes the raw log while the port is open, not only when it closes (a quiet device is not held back)', async function () {
      t.send('one quiet line\n');
      await until(() => lines().length === 1, 5000, 'the line');
      await until(() => fs.existsSync(path.join(dir, 'pi.log')) && fs.readFileSync(path.join(dir, 'pi.log'), 'utf8') === 'one quiet line\n', 2000, 'the line in the raw log');
    });

    it('caps the raw log: a flooding device writes up to the cap, the rest is counted and said at the end', async function () {
      const flood = Array.from({ length: 100 }, (_, k) => `flood ${String(k).padStart(3, '0')} ${'z'.repeat(40)}\n`).join('');
      t.send(flood);
      await until(() => lines().length === 100, 5000, '100 lines');
      await src.close();
      const raw = fs.readFileSync(path.join(dir, 'pi.log'), 'utf8');
      expect(raw.slice(0, 2000)).to.equal(flood.slice(0, 2000));
      expect(raw.slice(2000)).to.equal(`\n[hil: raw log capped at 2000 bytes; ${flood.length - 2000} more bytes were read and left out]\n`);
      expect(src.rawLeftOut).to.equal(flood.length - 2000);
      expect(lines()).to.have.length(100);
      expect([...log.since(0)].filter((o) => o.kind === 'log_cap').map((o) => o.fields)).to.deep.equal([{ part: 'pi', what: 'raw serial log', cap_bytes: 2000 }]);
    });

    it('records a disconnect, reopens with backoff and keeps reading', async function () {
      t.send('before\n');
      await until(() => lines().length === 1, 5000, 'first line');
      t.unplug();
      await log.waitFor('pi.disconnect', { within: 5000, from: 0 });
      expect(src.state).to.equal('reconnecting');
      await new Promise((r) => setTimeout(r, 100)); // a few failed attempts while unplugged
      t.replug();
      await log.waitFor('pi.reconnect', { within: 5000, from: 0 });
      expect(src.state).to.equal('ready');
      t.send('after\n');
      const m = await log.waitFor({ topic: 'pi', text: 'after' }, { within: 5000, from: 0 });
      expect(m.observation.text).to.equal('after');
      expect(src.stats().disconnects).to.equal(1);
      expect(src.stats().reconnects).to.equal(1);
    });

    it('keeps up with a 100k-line flood without losing or reordering a line', async function () {
      this.timeout(60000);
      const N = 100_000;
      let seen = 0;
      let ordered = true;
      log.on('pi.tick', (o) => {
        if (o.seq !== seen + 1) ordered = false;
        seen++;
      });
      let s = '';
      for (let k = 1; k <= N; k++) s += `HIL ${k} ${k * 10} tick n=${k}\n`;
      const buf = Buffer.from(s);
      for (let off = 0; off < buf.length; off += 4096) {
        t.send(buf.subarray(off, off + 4096));
        await t.drain();
      }
      await until(() => seen === N, 50000, `${N} lines (saw ${seen}; source stats ${JSON.stringify(src.stats())})`);
      expect(ordered).to.equal(true);
      expect(src.stats().lines).to.equal(N);
    });
  });
}

describe('SerialLineSource on a real PTY: descriptors', function () {
  it('opening and closing leaves no file descriptor behind (reads use their own fd on the tty)', async function () {
    const count = () => fs.readdirSync('/proc/self/fd').length;
    const pty = new PtyPair();
    const before = count();
    for (let k = 0; k < 20; k++) {
      const log = new ObservationLog();
      const src = new SerialLineSource({ name: 'dev', port: { path: pty.path }, log });
      await src.open();
      pty.write(`line ${k}\n`);
      await log.waitFor({ topic: 'dev', text: `line ${k}` }, { within: 5000 });
      await src.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(count()).to.equal(before);
    pty.close();
  });
});

describe('SerialLineSource: a port that is not there', function () {
  it('fails to open with a message naming the port and what is present', async function () {
    const log = new ObservationLog();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-byid-'));
    fs.writeFileSync(path.join(dir, 'usb-FTDI_FT232R_A50285BI-if00-port0'), '');
    const src = new SerialLineSource({ name: 'esp', port: { byId: 'usb-Espressif_ESP32_0001-if00' }, log, resolve: { byIdDir: dir } });
    try {
      await src.open();
      expect.fail('open should have failed');
    } catch (error) {
      expect((error as Error).message).to.match(/esp: serial port .*usb-Espressif_ESP32_0001-if00 not found/);
      expect((error as Error).message).to.include('usb-FTDI_FT232R_A50285BI-if00-port0');
      expect((error as { rigFault?: boolean }).rigFault).to.equal(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(src.state).to.equal('faulted');
  });
});
