import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';
import firmataIo, { type Firmata } from 'firmata-io';
import five, { type Board } from 'johnny-five';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';
import { startSimBench, SimStartError, type SimBenchHandle, type StartSimBenchOptions } from '../../harness/sim/sim-process.ts';
import { SIM_FAULTS, type SimFault } from '../../harness/sim/bench.ts';
import simRig from '../../rigs/sim-bench.ts';
import { buildEspFirmware, espCommand } from '../../bench/firmware.ts';

// The sim as the harness sees it: a separate process started through startSimBench, real PTYs
// opened with serialport 13, the relay boards driven by johnny-five over firmata-io, the ESP over
// HTTP, and the ground-truth file the sim writes. Waits are deadlines on observations; the only
// wall-clock bound is the startup time, with a wide margin (the box may be a loaded 2-core VM).

const { Firmata: FirmataIo } = firmataIo;
const ROOT = path.resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-bench-test-'));
let gtCounter = 0;
const newGroundTruthPath = (tag: string): string => path.join(tmpDir, `${tag}-${process.pid}-${++gtCounter}.truth.jsonl`);

const BUTTON_PIN = Object.fromEntries(Object.entries(simRig.buttons).map(([name, b]) => [name, b.pin])) as Record<string, number>;
const BUTTON_GPIO = Object.fromEntries(Object.entries(simRig.buttons).map(([name, b]) => [name, b.gpio])) as Record<string, number>;
const RELAY_A_PINS = Object.values(BUTTON_PIN);
const PI_POWER_PIN = simRig.power.pi!.pin;
const ESP_POWER_PIN = simRig.power.esp!.pin;

async function until<T>(what: string, probe: () => T | undefined | false, ms: number, context: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`expected ${what} within ${ms} ms${context()}`);
    await sleep(10);
  }
}

/** A device console as the harness opens it: serialport + ReadlineParser, lines stamped on arrival. */
class ConsolePort {
  readonly lines: string[] = [];
  private readonly port: SerialPort;

  constructor(
    readonly name: string,
    readonly path: string,
  ) {
    this.port = new SerialPort({ path, baudRate: 115200 });
    this.port.on('error', () => undefined);
    const parser = this.port.pipe(new ReadlineParser({ delimiter: '\n' }));
    parser.on('data', (l: string) => this.lines.push(l.replace(/\r$/, '')));
  }

  opened(): Promise<void> {
    if (this.port.isOpen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.port.once('open', () => resolve());
      this.port.once('error', reject);
    });
  }

  /** Index of the first line from `from` on that matches. */
  waitFor(re: RegExp, what: string, ms = 8000, from = 0): Promise<number> {
    return until(
      `${what} on ${this.name}`,
      () => {
        const i = this.lines.findIndex((l, k) => k >= from && re.test(l));
        return i >= 0 ? i : undefined;
      },
      ms,
      () => `; saw ${this.lines.length} lines, last:\n    ${this.lines.slice(-10).join('\n    ')}`,
    );
  }

  hil(kind: string, from = 0): Array<Record<string, string>> {
    const out: Array<Record<string, string>> = [];
    for (const l of this.lines.slice(from)) {
      const m = /HIL (\d+) (\d+) (\S+)(.*)$/.exec(l);
      if (!m || m[3] !== kind) continue;
      out.push(Object.fromEntries((m[4] ?? '').trim().split(/\s+/).filter(Boolean).map((kv) => kv.split('=') as [string, string])));
    }
    return out;
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

/** A relay board: serialport 13 → firmata-io → johnny-five, every used pin OUTPUT. */
class RelayBoard {
  readonly port: SerialPort;
  readonly io: Firmata;
  readonly j5: Board;
  readonly ready: Promise<void>;

  constructor(
    readonly name: string,
    portPath: string,
    readonly pins: number[],
  ) {
    this.port = new SerialPort({ path: portPath, baudRate: 57600 });
    this.port.on('error', () => undefined);
    this.io = new FirmataIo(this.port, { reportVersionTimeout: 200 });
    // Built before the port has opened: johnny-five waits for firmata-io's one-shot `connect`.
    this.j5 = new five.Board({ io: this.io, repl: false, debug: false, sigint: false, timeout: 8000 });
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected johnny-five 'ready' on ${name} (${portPath}) within 8000 ms`)), 8000);
      this.j5.once('ready', () => {
        clearTimeout(timer);
        for (const p of this.pins) this.j5.pinMode(p, five.Pin.OUTPUT);
        resolve();
      });
    });
  }

  write(pin: number, level: 0 | 1): void {
    this.j5.digitalWrite(pin, level);
  }

  writeAll(level: 0 | 1, pins = this.pins): void {
    for (const p of pins) this.j5.digitalWrite(p, level);
  }

  /** Active-low module: LOW energises the coil, which closes the contact across the button. */
  async press(pin: number, holdMs = 60): Promise<void> {
    this.write(pin, 0);
    await sleep(holdMs);
    this.write(pin, 1);
  }

  /** All channels at once, `cycles` times: ≈ 17 presses per (hold + gap), far above 100 events/s. */
  async burst(cycles: number, holdMs = 30, gapMs = 30): Promise<void> {
    for (let i = 0; i < cycles; i++) {
      this.writeAll(0);
      await sleep(holdMs);
      this.writeAll(1);
      await sleep(gapMs);
    }
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

/** One sim process with the host side attached the way the harness attaches it. */
class Bench {
  sim!: SimBenchHandle;
  startupMs = 0;
  pi!: ConsolePort;
  esp!: ConsolePort;
  relaysA!: RelayBoard;
  relaysB!: RelayBoard;
  groundTruth = '';

  static async start(opts: StartSimBenchOptions = {}): Promise<Bench> {
    const b = new Bench();
    b.groundTruth = opts.groundTruthPath ?? newGroundTruthPath(opts.fault ?? (opts.dutCmd ? 'dut' : 'healthy'));
    const t0 = process.hrtime.bigint();
    b.sim = await startSimBench({ ...opts, groundTruthPath: b.groundTruth });
    b.startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const { ports } = b.sim.description;
    // Consoles first: the devices' supplies come up 250 ms after the description line.
    b.pi = new ConsolePort('pi', ports.pi!);
    b.esp = new ConsolePort('esp', ports.esp!);
    b.relaysA = new RelayBoard('relays-a', ports['relays-a']!, RELAY_A_PINS);
    b.relaysB = new RelayBoard('relays-b', ports['relays-b']!, [2, 3]);
    await Promise.all([b.pi.opened(), b.esp.opened()]);
    return b;
  }

  /** relays-a ready with every button released (StandardFirmata boots with all pins LOW = energised). */
  async releaseButtons(): Promise<void> {
    await this.relaysA.ready;
    this.relaysA.writeAll(1);
  }

  async panelReady(from = 0, ms = 10_000): Promise<number> {
    return this.pi.waitFor(/🚀 Control panel ready/, 'the panel ready line', ms, from);
  }

  truth(): ReturnType<typeof readGroundTruth> {
    return fs.existsSync(this.groundTruth) ? readGroundTruth(this.groundTruth) : [];
  }

  /** Wait for ground truth records (the sim flushes every 100 ms). */
  async truthWhere(what: string, pred: (r: ReturnType<typeof readGroundTruth>[number]) => boolean, ms = 5000): Promise<ReturnType<typeof readGroundTruth>> {
    let recs: ReturnType<typeof readGroundTruth> = [];
    await until(`${what} in the ground truth (${this.groundTruth})`, () => (recs = this.truth()).some(pred), ms);
    return recs;
  }

  async close(): Promise<void> {
    await Promise.all([this.relaysA?.close(), this.relaysB?.close(), this.pi?.close(), this.esp?.close()]);
    await this.sim?.stop();
  }
}

function request(url: string, method: string, pathname: string, body?: string): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request(url + pathname, { method, agent: false, headers: body ? { 'Content-Type': 'application/json' } : {}, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: text, error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: '', error: e.code ?? e.message }));
    req.end(body);
  });
}

/** Processes whose command line contains `token` (other than this one). */
function processesWith(token: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(token)) found.push(`${pid}: ${cmd.trim()}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Identity of a PTY node, to tell "gone" from "reused by someone else" after a stop. */
function ptyIds(paths: string[]): Map<string, string> {
  return new Map(paths.map((p) => [p, fs.statSync(p).ctimeMs.toString()]));
}

function assertGone(ids: Map<string, string>): void {
  for (const [p, id] of ids) {
    const still = fs.existsSync(p) && fs.statSync(p).ctimeMs.toString() === id;
    assert.ok(!still, `PTY ${p} still exists after the sim stopped`);
  }
}

/** A process counts as gone once it has exited (a zombie waiting for its reaper is gone too). */
function isGone(pid: number): boolean {
  try {
    return /^\d+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

async function assertNoProcess(pid: number): Promise<void> {
  await until(`process ${pid} to be gone`, () => isGone(pid), 2000);
}

describe('sim bench process (startSimBench, real PTYs)', function () {
  this.timeout(30_000);
  let failures = 0;
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failures++;
  });
  after(() => {
    // Ground-truth files are evidence: kept when something failed.
    if (failures === 0) fs.rmSync(tmpDir, { recursive: true, force: true });
    else console.log(`      ground truth kept in ${tmpDir}`);
  });

  describe('healthy bench', function () {
    let b: Bench;
    before(async function () {
      b = await Bench.start({ seed: 1 });
    });
    after(async () => {
      await b?.close();
    });

    it('prints exactly one JSON description line in well under a second', function () {
      // Measured from spawn to the parsed line; budget 3 s for a loaded machine (typically ~0.4 s).
      console.log(`      startup: ${b.startupMs.toFixed(0)} ms`);
      assert.ok(b.startupMs < 3000, `description after ${b.startupMs.toFixed(0)} ms`);
      const d = b.sim.description;
      assert.deepEqual(Object.keys(d).sort(), ['consoleLink', 'fault', 'groundTruth', 'http', 'instrumentation', 'pid', 'ports', 'seed']);
      assert.equal(d.pid, b.sim.pid);
      assert.deepEqual(Object.keys(d.ports).sort(), ['esp', 'pi', 'relays-a', 'relays-b']);
      for (const p of Object.values(d.ports)) assert.match(p, /^\/dev\/pts\/\d+$/);
      assert.match(d.http.esp ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(d.groundTruth, b.groundTruth);
      assert.deepEqual([d.fault, d.seed], [null, 1]);
    });

    it('johnny-five completes the Firmata handshake on both relay boards', async function () {
      await Promise.all([b.relaysA.ready, b.relaysB.ready]);
      assert.deepEqual(b.relaysA.io.firmware, { name: 'StandardFirmata.ino', version: { major: 2, minor: 5 } });
      assert.equal(b.relaysB.io.pins.length, 20);
    });

    it('the devices boot on their consoles and the ESP serves HTTP at the described URL', async function () {
      await b.panelReady();
      assert.ok(b.pi.lines.some((l) => /^HIL \d+ \d+ boot fw=panel ver=3\.3$/.test(l)), 'panel HIL boot line');
      const boot = await b.esp.waitFor(/^HIL \d+ \d+ boot fw=esp /, 'the ESP boot line');
      // setup() prints the boot line before its server listens, as an ESP does; loop() beats once it
      // does (the harness's ready for the ESP). A request right after the boot line was refused
      // (CI, under load).
      await b.esp.waitFor(/^HIL \d+ \d+ hb /, 'the ESP heartbeat after its boot', 8000, boot + 1);
      const r = await request(b.sim.description.http.esp!, 'GET', '/api/state');
      assert.equal(r.status, 200, r.error ?? r.body);
      // The Pi's STATE lines reach the ESP over the simulated UART.
      await b.truthWhere('the ESP receiving the Pi state', (x) => x.src === 'esp' && x.kind === 'state_rx');
    });

    it('a press on relays-a reaches the panel: coil → contact make (with bounce) → gpio 0 → edge/q_put/done', async function () {
      await b.releaseButtons();
      await b.panelReady();
      await sleep(50); // the release settles (3–5 ms) before the presses
      const from = b.pi.lines.length;
      const tPress = process.hrtime.bigint();
      const presses = ['PRESSURE_UP', 'SHIM_ROD_UP', 'PRESSURE_DOWN', 'SAFETY_ROD_DOWN'];
      for (const btn of presses) {
        await b.relaysA.press(BUTTON_PIN[btn]!, 60);
        await sleep(60);
      }
      for (const btn of presses) await b.pi.waitFor(new RegExp(`^HIL \\d+ \\d+ done btn=${btn} `), `done btn=${btn}`, 5000, from);
      const edge = b.pi.hil('edge', from).find((h) => h.pin === String(BUTTON_GPIO.PRESSURE_UP) && h.level === '0');
      assert.ok(edge, 'an edge line for PRESSURE_UP level=0');
      assert.ok(b.pi.hil('q_put', from).some((h) => h.btn === 'PRESSURE_UP'));

      const recs = await b.truthWhere('gpio 0 of every press', (r) => r.kind === 'gpio' && r.btn === presses.at(-1) && r.level === 0 && r.t > tPress);
      const mine = recs.filter((r) => r.t > tPress);
      let bounces = 0;
      for (const btn of presses) {
        const src = `relays-a:${btn}`;
        const coil = mine.find((r) => r.src === src && r.kind === 'coil' && r.on === true);
        assert.ok(coil, `coil on for ${btn}`);
        const make = mine.find((r) => r.src === src && r.kind === 'contact' && r.closed === true && r.bounce === false);
        assert.ok(make && make.t > coil.t, `contact make after the coil for ${btn}`);
        const opMs = Number(make.t - coil.t) / 1e6;
        assert.ok(opMs >= 5 && opMs <= 8, `operate time ${opMs} ms`);
        const gpio = mine.find((r) => r.kind === 'gpio' && r.btn === btn && r.level === 0);
        assert.ok(gpio && gpio.t === make.t, `gpio 0 at the make's own time for ${btn}`);
        bounces += mine.filter((r) => r.src === src && r.kind === 'contact' && r.bounce === true).length;
      }
      assert.ok(bounces > 0, 'contact bounce in at least one of the presses');
      // The panel's own record of the edge, on the host clock, at the make.
      assert.ok(mine.some((r) => r.src === 'pi' && r.kind === 'edge' && r.btn === 'PRESSURE_UP'));
    });

    it('power-cycling the Pi through relays-b pin 2 (energise = off, NC) reboots it', async function () {
      await b.relaysB.ready;
      await b.panelReady();
      const bootsBefore = b.pi.hil('boot').length;
      const from = b.pi.lines.length;
      b.relaysB.write(PI_POWER_PIN, 1); // active-high module: energised, NC opens, the Pi loses power
      await b.truthWhere('power:pi off', (r) => r.src === 'power:pi' && r.on === false);
      await sleep(simRig.power.pi!.minOffMs);
      b.relaysB.write(PI_POWER_PIN, 0);
      await b.pi.waitFor(/^HIL 1 \d+ boot fw=panel /, 'a new boot line (seq 1)', 10_000, from);
      await b.panelReady(from);
      assert.equal(b.pi.hil('boot').length, bootsBefore + 1);
      const recs = await b.truthWhere('power:pi on again', (r) => r.src === 'power:pi' && r.on === true && r.cause !== 'bench supply on');
      assert.ok(recs.some((r) => r.src === 'pi' && r.kind === 'power' && r.on === false), 'the panel firmware recorded its power loss');
    });

    it('stop: the sim exits 0 by itself, its PTYs are gone, no process is left', async function () {
      const ids = ptyIds(Object.values(b.sim.description.ports));
      await b.close();
      const exit = await b.sim.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, b.sim.stderr);
      await assertNoProcess(b.sim.pid);
      assertGone(ids);
      assert.deepEqual(processesWith(b.groundTruth), []);
      const last = b.truth().at(-1);
      assert.deepEqual([last?.src, last?.kind], ['bench', 'stop']);
    });
  });

  describe('faults: each shows its symptom (one sim per fault)', function () {
    let b: Bench | undefined;
    afterEach(async () => {
      await b?.close();
      b = undefined;
    });

    const panelUp = async (fault: SimFault): Promise<Bench> => {
      b = await Bench.start({ fault, seed: 1 });
      assert.equal(b.sim.description.fault, fault);
      await b.releaseButtons();
      await b.panelReady();
      await sleep(30);
      return b;
    };

    const symptoms: Record<SimFault, (b: Bench) => Promise<void>> = {
      'lock-in-callback': async (b) => {
        await b.relaysA.burst(15);
        await b.truthWhere('lock_stuck (a lock wait that never ends)', (r) => r.src === 'pi' && r.kind === 'lock_stuck', 8000);
      },
      'blocking-put': async (b) => {
        const burst = b.relaysA.burst(30);
        await until('a callback over 5 ms on pi', () => b.pi.hil('cb').some((h) => Number(h.dur_us) > 5000), 10_000);
        await burst;
        assert.equal(b.pi.hil('q_drop').length, 0, 'blocking put never drops');
      },
      'slow-callback': async (b) => {
        await b.relaysA.press(BUTTON_PIN.PRESSURE_UP!);
        await b.pi.waitFor(/^DEBUG on_button /, 'the debug dump in the callback');
        await until('cb dur_us > 1000', () => b.pi.hil('cb').some((h) => Number(h.dur_us) > 1000), 3000);
      },
      'silent-drop': async (b) => {
        await b.relaysA.burst(20);
        await b.truthWhere('a silent q_drop', (r) => r.src === 'pi' && r.kind === 'q_drop' && r.silent === true, 5000);
        assert.equal(b.pi.hil('q_drop').length, 0);
        assert.ok(!b.pi.lines.some((l) => l.includes('Event queue full')));
      },
      'stuck-processor': async (b) => {
        for (const btn of ['REACTOR_START', 'PUMP_PRIMARY_ON']) {
          await b.relaysA.press(BUTTON_PIN[btn]!);
          await b.pi.waitFor(new RegExp(`done btn=${btn} `), `done ${btn}`);
        }
        await b.relaysA.press(BUTTON_PIN.EMERGENCY!);
        await b.pi.waitFor(/Traceback \(most recent call last\):/, 'a Python traceback');
        await b.pi.waitFor(/AttributeError: 'NoneType' object has no attribute 'cancel'/, 'the AttributeError');
      },
      'bound-off-by-one': async (b) => {
        await b.relaysA.burst(20);
        await until('q_put depth=101 on pi', () => b.pi.hil('q_put').some((h) => h.depth === '101'), 5000);
      },
      'no-debounce': async (b) => {
        const from = b.pi.lines.length;
        const presses = ['PRESSURE_UP', 'SHIM_ROD_UP', 'PRESSURE_DOWN', 'SAFETY_ROD_DOWN', 'REGULATING_ROD_UP'];
        for (const btn of presses) {
          await b.relaysA.press(BUTTON_PIN[btn]!);
          await sleep(40);
        }
        await sleep(300);
        const edges = b.pi.hil('edge', from).length;
        assert.ok(edges > 2 * presses.length, `${edges} edges for ${presses.length} presses: bounce should get through`);
        assert.ok(b.pi.hil('q_put', from).length > presses.length, 'bounce turns one press into several events');
      },
      'esp-sync-db': async (b) => {
        await b.esp.waitFor(/^HTTP server started on port/, 'the ESP server');
        const url = b.sim.description.http.esp!;
        const replies = Promise.all(Array.from({ length: 30 }, (_, i) => request(url, 'POST', '/api/message', JSON.stringify({ text: `burst ${i}` }))));
        await b.esp.waitFor(/task_wdt: Task watchdog got triggered/, 'the task watchdog panic', 10_000);
        await b.esp.waitFor(/^HIL \d+ \d+ wdt /, 'HIL wdt');
        await replies;
        await b.truthWhere('wdt', (r) => r.src === 'esp' && r.kind === 'wdt');
      },
    };

    it('covers every fault the sim offers', function () {
      assert.deepEqual(Object.keys(symptoms).sort(), [...SIM_FAULTS].sort());
    });

    for (const fault of SIM_FAULTS) {
      it(`${fault}`, async function () {
        const bench = fault === 'esp-sync-db' ? await Bench.start({ fault, seed: 1 }) : await panelUp(fault);
        b = bench;
        await symptoms[fault](bench);
      });
    }
  });

  describe('external DUT (--dut-cmd)', function () {
    let b: Bench | undefined;
    after(async () => {
      await b?.close();
    });

    it('gets gpio lines on stdin, its stdout is the Pi console, power cycles restart it, stop kills it', async function () {
      const tag = `dut-tag-${process.pid}-${Date.now()}`;
      const script = path.join(ROOT, 'examples/dut/echo-panel.py');
      b = await Bench.start({ dutCmd: `python3 ${script} ${tag}` });
      await b.pi.waitFor(/^echo-panel starting \(pid \d+, dut-tag/, 'the DUT banner');
      await b.pi.waitFor(/^HIL 1 \d+ boot fw=echo-panel /, 'the DUT boot line');
      await b.releaseButtons();
      await until('all 17 lines released at the DUT', () => b!.pi.hil('edge').filter((h) => h.level === '1').length >= 17, 5000, () => `; saw ${b!.pi.lines.slice(-5).join(' | ')}`);

      // echo-panel debounces on arrival: a make within 20 ms of the line's last change is bounce,
      // so the press waits until the releases above are well past that (a loaded run pressed
      // right after them and the DUT rightly took the make for bounce).
      await new Promise((r) => setTimeout(r, 100));
      const from = b.pi.lines.length;
      await b.relaysA.press(BUTTON_PIN.PRESSURE_UP!);
      await b.pi.waitFor(/^pressed PRESSURE_UP$/, 'the DUT seeing the press', 5000, from);
      const edges = b.pi.hil('edge', from).filter((h) => h.pin === String(BUTTON_GPIO.PRESSURE_UP));
      assert.equal(edges[0]?.level, '0');
      await until('the release', () => b!.pi.hil('edge', from).some((h) => h.level === '1'), 3000);

      const pid1 = Number(/pid (\d+)/.exec(b.pi.lines.find((l) => l.startsWith('echo-panel starting')) ?? '')?.[1]);
      await b.relaysB.ready;
      const fromCycle = b.pi.lines.length;
      b.relaysB.write(PI_POWER_PIN, 1);
      await b.truthWhere('the DUT killed', (r) => r.kind === 'dut_exit' && r.signal === 'SIGKILL');
      await assertNoProcess(pid1);
      b.relaysB.write(PI_POWER_PIN, 0);
      const i = await b.pi.waitFor(/^echo-panel starting/, 'the DUT started again', 8000, fromCycle);
      const pid2 = Number(/pid (\d+)/.exec(b.pi.lines[i]!)?.[1]);
      assert.notEqual(pid2, pid1);

      assert.ok(processesWith(tag).length > 0, 'the DUT runs with its tag on the command line');
      await b.close();
      assert.deepEqual(await b.sim.exited, { code: 0, signal: null }, b.sim.stderr);
      assert.deepEqual(processesWith(tag), [], 'no DUT process left behind');
      b = undefined;
    });
  });

  describe('external ESP (--esp-cmd)', function () {
    let b: Bench | undefined;
    after(async () => {
      await b?.close();
    });

    it('listens on HIL_HTTP_PORT at the described URL, gets the Pi\'s UART lines on stdin, its output is the ESP console, power cycles restart it', async function () {
      this.timeout(120_000);
      b = await Bench.start({ espCmd: espCommand(await buildEspFirmware()) });
      const url = b.sim.description.http.esp!;
      await b.esp.waitFor(new RegExp(`^HTTP server started on port ${new URL(url).port}$`), 'the external ESP listening on the described port', 10_000);
      const r = await request(url, 'POST', '/api/message', JSON.stringify({ text: 'hello' }));
      assert.equal(r.status, 202, r.body);
      await b.esp.waitFor(/^DB: logged message #1$/, 'the event logged');
      // The built-in Pi sends its STATE over the UART; the external ESP prints what it received.
      await b.releaseButtons();
      await b.esp.waitFor(/^HIL \d+ \d+ state src=pi .*reactor=/, 'the Pi state over the UART', 15_000);
      await b.relaysB.ready;
      const from = b.esp.lines.length;
      b.relaysB.write(ESP_POWER_PIN, 1);
      await b.truthWhere('the ESP program killed', (x) => x.src === 'esp' && x.kind === 'dut_exit' && x.signal === 'SIGKILL');
      b.relaysB.write(ESP_POWER_PIN, 0);
      await b.esp.waitFor(/^rst:0x1 \(POWERON_RESET\)/, 'the ESP booting again', 8000, from);
      await b.esp.waitFor(/^HTTP server started on port/, 'the server back', 8000, from);
      assert.equal((await request(url, 'POST', '/api/message', JSON.stringify({ text: 'again' }))).status, 202);
      await b.close();
      assert.deepEqual(await b.sim.exited, { code: 0, signal: null }, b.sim.stderr);
      b = undefined;
    });

    it('refuses an ESP fault with --esp-cmd', async function () {
      const err = await startSimBench({ fault: 'esp-sync-db', espCmd: 'true' }).then(
        () => assert.fail('expected the start to fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SimStartError, String(err));
      assert.match(err.stderr, /cannot apply to an external ESP \(--esp-cmd\)/);
    });
  });

  describe('bad arguments', function () {
    it('an unknown fault: the sim exits 2 listing the valid faults', async function () {
      const err = await startSimBench({ fault: 'no-such-fault' as SimFault }).then(
        () => assert.fail('expected the start to fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SimStartError, String(err));
      assert.match(err.message, /code 2/);
      for (const f of SIM_FAULTS) assert.ok(err.stderr.includes(f), `stderr lists ${f}: ${err.stderr}`);
    });

    it('an unknown instrumentation variant: the sim exits 2 listing the valid ones', async function () {
      const err = await startSimBench({ instrumentation: ['racy-q-put', 'no-such-variant'] }).then(
        () => assert.fail('expected the start to fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SimStartError, String(err));
      assert.match(err.message, /code 2/);
      assert.match(err.stderr, /unknown instrumentation "no-such-variant"; valid: racy-q-put, raw-edges/);
    });

    it('instrumentation reaches the panel: the description and the panel\'s power-on record name the variants', async function () {
      const sim = await startSimBench({ instrumentation: ['raw-edges', 'racy-q-put'] });
      try {
        assert.deepEqual(sim.description.instrumentation, ['raw-edges', 'racy-q-put']);
        await new Promise((r) => setTimeout(r, 1500)); // the supplies come up, the panel boots
      } finally {
        await sim.stop();
      }
      const truth = readGroundTruth(sim.description.groundTruth);
      assert.ok(truth.some((r) => r.src === 'pi' && r.kind === 'power' && JSON.stringify(r.instrumentation) === '["raw-edges","racy-q-put"]'), 'the panel booted with both variants');
    });
  });
});
