// Tests of the simulated panel firmware itself, driven in-process. Its threads are modelled and
// paced to the wall clock, so these wait on conditions with generous deadlines and never assert
// tight wall-clock times; timing checks use the device's own t_us.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GroundTruthLog, type TruthRecord } from '../../harness/sim/ground-truth.ts';
import { DEFAULT_GPIO_MAP, type ButtonName } from '../../harness/devices/panel.ts';
import { PanelFirmware, type PanelFault } from '../../harness/sim/panel/index.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MS = 1_000_000n;

interface Hil {
  seq: number;
  tUs: number;
  kind: string;
  f: Record<string, string | number>;
  /** Index among all console lines. */
  line: number;
}

function parseHil(line: string, index: number): Hil | null {
  const m = /HIL (\d+) (\d+) (\w+)(.*)$/.exec(line);
  if (!m) return null;
  const f: Record<string, string | number> = {};
  for (const kv of m[4]!.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    let v: string = kv[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    f[kv[1]!] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return { seq: Number(m[1]), tUs: Number(m[2]), kind: m[3]!, f, line: index };
}

type Edge = [pin: number, level: 0 | 1, tNs: bigint];

/** A press with contact bounce on make and on break (edges within 0.5 ms), held `holdMs`. */
function pressEdges(btn: ButtonName, at: bigint, holdMs = 30): Edge[] {
  const pin = DEFAULT_GPIO_MAP[btn];
  const rel = at + BigInt(Math.round(holdMs * 1e6));
  return [
    [pin, 0, at],
    [pin, 1, at + 200_000n],
    [pin, 0, at + 500_000n],
    [pin, 1, rel],
    [pin, 0, rel + 200_000n],
    [pin, 1, rel + 500_000n],
  ];
}

/** Presses on several buttons at once, each every `periodMs`, for `durationMs`. */
function burstEdges(btns: ButtonName[], at: bigint, periodMs: number, durationMs: number): Edge[] {
  const edges: Edge[] = [];
  btns.forEach((b, i) => {
    const phase = BigInt(Math.round((periodMs / btns.length) * i * 1e6));
    for (let t = 0; t < durationMs; t += periodMs) edges.push(...pressEdges(b, at + phase + BigInt(Math.round(t * 1e6)), 6));
  });
  return edges.sort((a, b) => (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
}

const BURST_BTNS: ButtonName[] = ['PRESSURE_UP', 'PRESSURE_DOWN', 'SHIM_ROD_UP', 'SHIM_ROD_DOWN', 'REGULATING_ROD_UP'];

/** One panel plus everything it emitted. */
class Bench {
  readonly fw: PanelFirmware;
  readonly chunks: Buffer[] = [];
  readonly uart: string[] = [];
  readonly truth: TruthRecord[] = [];
  private feeders: NodeJS.Timeout[] = [];

  constructor(opts: { fault?: PanelFault; eol?: '\n' | '\r\n'; debounceMs?: number } = {}) {
    const truth = new GroundTruthLog();
    truth.onRecord((r) => this.truth.push(r));
    this.fw = new PanelFirmware({
      gpioMap: { ...DEFAULT_GPIO_MAP },
      seed: 7,
      clock: { offsetUs: 12_345_678, driftPpm: 40 },
      console: (c) => this.chunks.push(c),
      uartTx: (l) => this.uart.push(l),
      truth,
      ...opts,
    });
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  lines(): string[] {
    return this.text.split(/\r?\n/).filter((l) => l.length > 0);
  }

  hil(kind?: string): Hil[] {
    const out: Hil[] = [];
    this.lines().forEach((l, i) => {
      const h = parseHil(l, i);
      if (h && (kind === undefined || h.kind === kind)) out.push(h);
    });
    return out;
  }

  /** Deliver edges as a relay driver would: each a few ms before its time. */
  feed(edges: Edge[]): Promise<void> {
    let i = 0;
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        const horizon = process.hrtime.bigint() + 3n * MS;
        while (i < edges.length && edges[i]![2] <= horizon) {
          const [pin, level, t] = edges[i++]!;
          if (this.fw.powered) this.fw.deliverGpio(pin, level, t);
        }
        if (i >= edges.length || !this.fw.powered) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
      this.feeders.push(timer);
    });
  }

  async press(btn: ButtonName, inMs = 5): Promise<void> {
    await this.feed(pressEdges(btn, process.hrtime.bigint() + BigInt(inMs) * MS));
  }

  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) {
        const ls = this.lines();
        assert.fail(`expected ${what} on pi within ${timeoutMs} ms; saw ${ls.length} lines, last:\n  ${ls.slice(-12).join('\n  ')}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Wait for the `done` of the n-th event overall (1-based). */
  waitDone(n: number, timeoutMs?: number): Promise<Hil> {
    return this.waitFor(`${n} done lines`, () => this.hil('done')[n - 1], timeoutMs);
  }

  async stop(): Promise<void> {
    for (const t of this.feeders) clearInterval(t);
    await this.fw.powerOff();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function assertSeqContiguous(b: Bench): void {
  const hs = b.hil();
  for (let i = 1; i < hs.length; i++) {
    assert.equal(hs[i]!.seq, hs[i - 1]!.seq + 1, `HIL seq gap/reorder at console line ${hs[i]!.line}: ${hs[i - 1]!.seq} then ${hs[i]!.seq}`);
  }
}

/** At every point of the log, gets of a button never outnumber its puts. */
function assertGetsFollowPuts(b: Bench): void {
  const bal = new Map<string, number>();
  for (const h of b.hil()) {
    const btn = String(h.f.btn);
    if (h.kind === 'q_put') bal.set(btn, (bal.get(btn) ?? 0) + 1);
    if (h.kind === 'q_get') {
      bal.set(btn, (bal.get(btn) ?? 0) - 1);
      assert.ok(bal.get(btn)! >= 0, `q_get of ${btn} before its q_put (seq ${h.seq})`);
    }
  }
}

const hbThreadsAfter = (b: Bench, seq: number): Set<string> => new Set(b.hil('hb').filter((h) => h.seq > seq).map((h) => String(h.f.thread)));

describe('sim/panel PanelFirmware', function () {
  this.timeout(30_000);
  let bench: Bench | undefined;
  const start = async (opts?: ConstructorParameters<typeof Bench>[0]): Promise<Bench> => {
    bench = new Bench(opts);
    await bench.fw.powerOn();
    return bench;
  };
  const startReactor = async (b: Bench): Promise<void> => {
    await b.press('REACTOR_START');
    await b.waitFor('reactor=1', () => b.hil('state').some((h) => h.f.reactor === 1));
  };

  afterEach(async () => {
    await bench?.stop();
    bench = undefined;
  });

  it('boots with the banner and HIL boot, CRLF by default, and all four heartbeats', async () => {
    const b = await start();
    assert.equal(b.fw.phase, 'on');
    await b.waitFor('heartbeats of all threads', () => hbThreadsAfter(b, 0).size === 4);
    const text = b.text;
    assert.match(text, /Reactor Control Panel v3\.3/);
    assert.match(text, /🚀 Control panel ready/);
    assert.ok(!/[^\r]\n/.test(text), 'every line ends with \\r\\n');
    const boot = b.hil('boot')[0]!;
    assert.deepEqual([boot.seq, boot.f.fw, boot.f.ver], [1, 'panel', 3.3]);
    // The device clock starts at power-on; the boot line follows worker start-up, which a cold tsx
    // cache on a loaded machine can stretch past a second. This checks the offset, not boot speed.
    assert.ok(boot.tUs >= 12_345_678 && boot.tUs < 12_345_678 + 10_000_000, `boot t_us ${boot.tUs} near the configured offset`);
    await b.waitFor('a UART STATE line', () => b.uart.length > 0);
    assert.match(b.uart[0]!, /^STATE n=1 t_us=\d+ reactor=0 pressure=100 pump_primary=OFF pump_secondary=OFF pump_tertiary=OFF safety_rod=50 shim_rod=50 regulating_rod=50 power=0 processed=0 depth=0$/);
  });

  it('eol "\\n" is honoured', async () => {
    const b = await start({ eol: '\n' });
    assert.ok(!b.text.includes('\r'));
  });

  it('a press goes edge → cb/q_put → q_get → done → state, in order, and changes the state', async () => {
    const b = await start();
    await startReactor(b);
    const from = b.hil().at(-1)!.seq;
    await b.press('PRESSURE_UP');
    await b.waitDone(2);
    await b.waitFor('state pressure=105', () => b.hil('state').find((h) => h.f.pressure === 105));
    // this event's lines only (the REACTOR_START release edge, its state line — printed after its
    // done, so possibly after `from` — and heartbeats may interleave)
    const pin = DEFAULT_GPIO_MAP.PRESSURE_UP;
    const ev = b.hil().filter((h) => h.seq > from && (h.f.pin === pin || h.f.btn === 'PRESSURE_UP' || (h.kind === 'state' && h.f.pressure === 105)));
    const kinds = ev.map((h) => h.kind);
    // the cb line races the processor (it is printed after the put returns); the rest is ordered
    assert.deepEqual(kinds.filter((k) => k !== 'cb').slice(0, 5), ['edge', 'q_put', 'q_get', 'done', 'state'], `saw ${kinds.join(',')}`);
    assert.ok(kinds.indexOf('cb') > kinds.indexOf('q_put'), `cb after q_put; saw ${kinds.join(',')}`);
    assert.equal(ev.find((h) => h.kind === 'edge')!.f.pin, DEFAULT_GPIO_MAP.PRESSURE_UP);
    assert.deepEqual(ev.find((h) => h.kind === 'q_put')!.f, { btn: 'PRESSURE_UP', depth: 1, cap: 100 });
    assert.match(b.text, /⚡ Queued: PRESSURE_UP/);
    assert.match(b.text, /✓ Pressure: 105\.0 bar/);
    const done = ev.find((h) => h.kind === 'done')!;
    assert.ok(Number(done.f.dur_us) >= 1000, `done dur_us ${done.f.dur_us} includes ~1 ms of work`);
    for (const k of ['edge', 'q_put', 'q_get', 'done']) assert.ok(b.truth.some((r) => r.kind === k && r.src === 'pi'), `truth has ${k}`);
  });

  it('debounce: bounce within the window is one event; ground truth shows the rejected edges', async () => {
    const b = await start();
    await startReactor(b);
    await b.press('SHIM_ROD_UP');
    await b.waitDone(2);
    await b.waitFor('the release edge', () => b.truth.filter((r) => r.kind === 'edge' && r.pin === DEFAULT_GPIO_MAP.SHIM_ROD_UP).length === 2);
    await sleep(50);
    assert.equal(b.hil('q_put').filter((h) => h.f.btn === 'SHIM_ROD_UP').length, 1);
    assert.equal(b.hil('edge').filter((h) => h.f.pin === DEFAULT_GPIO_MAP.SHIM_ROD_UP).length, 2, 'one make, one break');
    assert.ok(b.truth.filter((r) => r.kind === 'edge_bounce' && r.pin === DEFAULT_GPIO_MAP.SHIM_ROD_UP).length >= 4);
    assert.match(b.text, /✓ Shim rod: 55%/);
  });

  it('no-debounce fault: the same bouncing press becomes several events', async () => {
    const b = await start({ fault: 'no-debounce' });
    await startReactor(b);
    const before = b.hil('q_put').length;
    await b.press('SHIM_ROD_UP');
    await b.waitFor('several q_put', () => b.hil('q_put').length - before >= 3);
    await b.waitFor('every bounce as an edge', () => b.hil('edge').filter((h) => h.f.pin === DEFAULT_GPIO_MAP.SHIM_ROD_UP).length === 6);
  });

  it('warns "reactor not started" for anything but REACTOR_START, still done, no state change', async () => {
    const b = await start();
    await b.press('PRESSURE_UP');
    await b.waitDone(1);
    assert.match(b.text, /⚠️ {2}Reactor not started!/);
    assert.deepEqual(b.hil('warn')[0]!.f, { msg: 'reactor not started' });
    assert.equal(b.hil('state').length, 0);
  });

  it('clamps pressure to 0..200', async () => {
    const b = await start();
    await startReactor(b);
    const t0 = process.hrtime.bigint() + 5n * MS;
    const ups: Edge[] = [];
    for (let i = 0; i < 22; i++) ups.push(...pressEdges('PRESSURE_UP', t0 + BigInt(i) * 14n * MS, 6));
    await b.feed(ups);
    await b.waitDone(23);
    const p = b.hil('state').map((h) => Number(h.f.pressure));
    assert.equal(Math.max(...p), 200);
    assert.match(b.text, /✓ Pressure: 200\.0 bar \(limit\)/);
    const t1 = process.hrtime.bigint() + 5n * MS;
    const downs: Edge[] = [];
    for (let i = 0; i < 42; i++) downs.push(...pressEdges('PRESSURE_DOWN', t1 + BigInt(i) * 14n * MS, 6));
    await b.feed(downs);
    await b.waitDone(23 + 42);
    const after = b.hil('state').map((h) => Number(h.f.pressure));
    assert.equal(Math.min(...after), 0);
    assert.equal(b.hil('state').at(-1)!.f.pressure, 0);
    assert.match(b.text, /✓ Pressure: 0\.0 bar \(limit\)/);
  });

  it('pumps go STARTING → ON after ~2 s and STOPPING → OFF after ~1 s (device time)', async () => {
    const b = await start();
    await startReactor(b);
    await b.press('PUMP_PRIMARY_ON');
    const starting = await b.waitFor('pump_primary=STARTING', () => b.hil('state').find((h) => h.f.pump_primary === 'STARTING'));
    const on = await b.waitFor('pump_primary=ON', () => b.hil('state').find((h) => h.f.pump_primary === 'ON'), 10_000);
    const dt = (on.tUs - starting.tUs) / 1e6;
    assert.ok(dt >= 1.95 && dt < 3.5, `STARTING→ON took ${dt} s of device time`);
    assert.match(b.text, /✓ Primary pump ON/);
    await b.waitFor('power with one pump ON', () => b.hil('state').find((h) => h.f.power === 30)); // 50 % rods × (0.4 + 0.2)
    await b.press('PUMP_PRIMARY_OFF');
    const stopping = await b.waitFor('STOPPING', () => b.hil('state').find((h) => h.f.pump_primary === 'STOPPING'));
    const off = await b.waitFor('OFF', () => b.hil('state').find((h) => h.seq > stopping.seq && h.f.pump_primary === 'OFF'), 10_000);
    const dt2 = (off.tUs - stopping.tUs) / 1e6;
    assert.ok(dt2 >= 0.95 && dt2 < 2.5, `STOPPING→OFF took ${dt2} s`);
  });

  it('EMERGENCY inserts all rods and stops the reactor', async () => {
    const b = await start();
    await startReactor(b);
    await b.press('EMERGENCY');
    const s = await b.waitFor('emergency state', () => b.hil('state').find((h) => h.f.reactor === 0));
    assert.deepEqual([s.f.safety_rod, s.f.shim_rod, s.f.regulating_rod], [0, 0, 0]);
    assert.match(b.text, /🚨 EMERGENCY/);
  });

  it('healthy: a dense burst on 5 channels fills the queue, q_drop is reported at cap, seq has no gaps', async () => {
    const b = await start();
    await startReactor(b);
    await b.feed(burstEdges(BURST_BTNS, process.hrtime.bigint() + 10n * MS, 12, 1200));
    await b.waitFor('q_drop', () => b.hil('q_drop').length > 0);
    const maxDepth = Math.max(...b.hil('q_put').map((h) => Number(h.f.depth)));
    assert.equal(maxDepth, 100);
    // A drop reports the depth read after the refused put: the processor may have taken one in
    // between (as on the real panel), so 99 is a full queue too; anything lower is room refused.
    assert.deepEqual(b.hil('q_drop').map((h) => Number(h.f.depth)).filter((d) => d < 99), []);
    assert.ok(b.hil('q_drop').some((h) => Number(h.f.depth) === 100), 'at least one drop reported at depth 100');
    assert.match(b.text, /⚠️ {2}Event queue full, dropping /);
    assert.match(b.text, /📊 Processed \d+ events/);
    // every accepted press ends in q_put or q_drop
    await b.waitFor('queue drained', () => b.hil('hb').some((h) => h.f.thread === 'processor' && h.f.depth === 0 && Number(h.f.processed) > 100), 15_000);
    const presses = b.hil('edge').filter((h) => h.f.level === 0).length;
    assert.equal(b.hil('q_put').length + b.hil('q_drop').length, presses);
    assertSeqContiguous(b);
    assertGetsFollowPuts(b);
    const cbs = b.hil('cb').map((h) => Number(h.f.dur_us)).sort((x, y) => x - y);
    assert.ok(cbs[Math.floor(cbs.length / 2)]! < 1000, `median cb dur_us ${cbs[Math.floor(cbs.length / 2)]}`);
  });

  it('silent-drop fault: a full queue loses events with no line at all', async () => {
    const b = await start({ fault: 'silent-drop' });
    await startReactor(b);
    await b.feed(burstEdges(BURST_BTNS, process.hrtime.bigint() + 10n * MS, 12, 1200));
    await b.waitFor('a silent drop in ground truth', () => b.truth.some((r) => r.kind === 'q_drop' && r.silent === true));
    await sleep(200);
    assert.equal(b.hil('q_drop').length, 0);
    assert.doesNotMatch(b.text, /Event queue full/);
    await b.waitFor('a cb line for every press', () => b.hil('cb').length === b.hil('edge').filter((h) => h.f.level === 0).length);
    assert.ok(b.hil('q_put').length < b.hil('cb').length, 'some accepted presses never reached the queue');
  });

  it('bound-off-by-one fault: the queue really holds 101', async () => {
    const b = await start({ fault: 'bound-off-by-one' });
    await startReactor(b);
    await b.feed(burstEdges(BURST_BTNS, process.hrtime.bigint() + 10n * MS, 12, 1200));
    const put = await b.waitFor('q_put depth=101', () => b.hil('q_put').find((h) => h.f.depth === 101));
    assert.equal(put.f.cap, 100);
    await b.waitFor('q_drop at 101', () => b.hil('q_drop').find((h) => h.f.depth === 101));
  });

  it('slow-callback fault: callbacks report a few ms each', async () => {
    const b = await start({ fault: 'slow-callback' });
    await startReactor(b);
    for (const btn of ['PRESSURE_UP', 'SHIM_ROD_UP', 'PRESSURE_DOWN'] as const) await b.press(btn);
    await b.waitDone(4);
    const durs = b.hil('cb').map((h) => Number(h.f.dur_us));
    assert.equal(durs.length, 4);
    for (const d of durs) assert.ok(d > 1000, `cb dur_us ${d} > 1000`);
  });

  it('blocking-put fault: callbacks block on the full queue; no q_drop; durations explode', async () => {
    const b = await start({ fault: 'blocking-put' });
    await startReactor(b);
    await b.feed(burstEdges(BURST_BTNS, process.hrtime.bigint() + 10n * MS, 12, 1200));
    await b.waitFor('a callback over 5 ms', () => b.hil('cb').find((h) => Number(h.f.dur_us) > 5000), 15_000);
    assert.equal(b.hil('q_drop').length, 0);
    assert.ok(Math.max(...b.hil('q_put').map((h) => Number(h.f.depth))) <= 100);
    assert.ok(b.truth.some((r) => r.kind === 'q_block'));
  });

  it('lock-in-callback fault: an isolated press works', async () => {
    const b = await start({ fault: 'lock-in-callback' });
    await startReactor(b);
    await b.press('PRESSURE_UP');
    await b.waitDone(2);
    await b.press('SHIM_ROD_UP', 50);
    await b.waitDone(3);
    const last = b.hil().at(-1)!.seq;
    await b.waitFor('heartbeats continue', () => hbThreadsAfter(b, last).size === 4);
  });

  it('lock-in-callback fault: a burst of rapid presses deadlocks for good; heartbeats stop', async () => {
    const b = await start({ fault: 'lock-in-callback' });
    await startReactor(b);
    void b.feed(burstEdges(BURST_BTNS, process.hrtime.bigint() + 10n * MS, 20, 2000));
    // silence: no heartbeat from any thread for 1.5 s
    let seen = -1;
    let since = Date.now();
    await b.waitFor('1.5 s without any heartbeat', () => {
      const n = b.hil('hb').length;
      if (n !== seen) [seen, since] = [n, Date.now()];
      return Date.now() - since >= 1500;
    }, 15_000);
    await b.waitFor('lock_stuck in ground truth', () => b.truth.some((r) => r.kind === 'lock_stuck'));
    assert.ok(b.truth.some((r) => r.kind === 'lock_stuck'), 'ground truth records a lock wait that never ends');
    const stuck = b.truth.filter((r) => r.kind === 'lock_stuck').map((r) => `${String(r.thread)} on ${String(r.lock)} held by ${String(r.holder)}`);
    assert.ok(stuck.some((s) => s.startsWith('irq on queue')) && stuck.some((s) => s.startsWith('processor on state')), stuck.join('; '));
  });

  it('stuck-processor fault: EMERGENCY while a pump is STARTING kills the processor; others keep beating; the queue fills', async () => {
    const b = await start({ fault: 'stuck-processor' });
    await startReactor(b);
    await b.press('PUMP_PRIMARY_ON');
    await b.waitFor('STARTING', () => b.hil('state').find((h) => h.f.pump_primary === 'STARTING'));
    await b.press('EMERGENCY');
    await b.waitFor('a traceback', () => b.text.includes('Traceback (most recent call last):'));
    assert.match(b.text, /AttributeError: 'NoneType' object has no attribute 'cancel'/);
    await b.waitFor('thread death in ground truth', () => b.truth.find((r) => r.kind === 'thread_death' && r.thread === 'processor'));
    const at = b.hil().at(-1)!.seq;
    await sleep(1200);
    const beating = hbThreadsAfter(b, at);
    assert.deepEqual([...beating].sort(), ['control', 'esplink', 'irq']);
    await b.feed(burstEdges(BURST_BTNS, process.hrtime.bigint() + 10n * MS, 12, 400));
    await b.waitFor('q_drop with the processor dead', () => b.hil('q_drop').find((h) => h.f.depth === 100));
    assert.equal(b.hil('q_get').filter((h) => h.seq > at).length, 0);
  });

  it('powerOff kills every thread at once: no more output, no more UART', async () => {
    const b = await start();
    await startReactor(b);
    await b.fw.powerOff();
    assert.equal(b.fw.powered, false);
    const [n, u] = [b.chunks.length, b.uart.length];
    await sleep(400);
    assert.deepEqual([b.chunks.length, b.uart.length], [n, u]);
    b.fw.deliverGpio(DEFAULT_GPIO_MAP.PRESSURE_UP, 0, process.hrtime.bigint()); // ignored when off
    await b.fw.powerOn(); // and it boots again, seq restarting
    assert.equal(b.hil('boot').length, 2);
    assert.equal(b.hil('boot')[1]!.seq, 1);
  });

  it('powerOff during boot rejects powerOn with powerLost', async () => {
    bench = new Bench();
    const on = bench.fw.powerOn();
    await bench.fw.powerOff();
    await assert.rejects(on, (e: Error & { powerLost?: boolean }) => e.powerLost === true);
  });

  it('refuses bad options and unwired pins, naming the field and value', () => {
    const ok = { gpioMap: { ...DEFAULT_GPIO_MAP }, seed: 1, clock: { offsetUs: 0, driftPpm: 0 }, console: () => undefined, uartTx: () => undefined };
    assert.throws(() => new PanelFirmware({ ...ok, gpioMap: { ...DEFAULT_GPIO_MAP, EMERGENCY: 4 } }), /gpioMap\.EMERGENCY = 4 is already used by REACTOR_START/);
    assert.throws(() => new PanelFirmware({ ...ok, fault: 'bogus' as PanelFault }), /options\.fault .* got "bogus"/);
    assert.throws(() => new PanelFirmware(ok).deliverGpio(3, 0, 0n), /BCM 3 is not wired/);
  });

  it('started as `node --import=tsx harness/sim/panel/demo.ts`, the process ends by itself after powerOff', async () => {
    const child = spawn(process.execPath, ['--import=tsx', 'harness/sim/panel/demo.ts'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    assert.equal(code, 0, `demo did not exit on its own (code ${code}); stderr: ${err}`);
    assert.match(out, /HIL 1 \d+ boot fw=panel ver=3\.3/);
    assert.match(out, /✓ Pressure: 105\.0 bar/);
  });
});
