import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DeviceClock } from '../device-clock.ts';
import type { GroundTruthLog } from '../ground-truth.ts';
import { BUTTONS, type ButtonName } from './buttons.ts';
import { PANEL_FAULTS, type PanelFault } from './faults.ts';
import { C, ConsoleWriter, GPIO_SLOTS, PanelMemory, QUEUE_CAP, THREAD_IDS, drainConsole, nowNs, type ThreadName } from './shared.ts';
import { initState } from './state.ts';
import type { ThreadInit, ThreadMessage } from './threads/context.ts';

/** Options of {@link PanelFirmware}. */
export interface PanelFirmwareOptions {
  /** Wiring, button → BCM pin (0..27, all distinct). Required; see `DEFAULT_GPIO_MAP`. */
  gpioMap: Record<ButtonName, number>;
  /** Which broken variant to run. Default: none (healthy v3.3). */
  fault?: PanelFault;
  /** Seeds the per-thread jitter (work times, slow-callback durations). Required. */
  seed: number;
  /**
   * Device clock: reading at boot (µs) and rate error (ppm, + = fast). The boot host time is taken
   * at each {@link PanelFirmware.powerOn}. Required.
   */
  clock: { offsetUs: number; driftPpm: number };
  /** Bytes the Pi prints on its console (whole lines, UTF-8). The bench writes them to a PTY. Required. */
  console: (chunk: Buffer) => void;
  /**
   * One state line to the ESP, every 100 ms, without a line terminator (the bench adds its own).
   * Format, space-separated `key=value` in this order:
   *
   * ```
   * STATE n=<link seq from 1> t_us=<device µs> reactor=<0|1> pressure=<bar 0..200>
   *   pump_primary=<OFF|STARTING|ON|STOPPING> pump_secondary=<…> pump_tertiary=<…>
   *   safety_rod=<% 0..100> shim_rod=<%> regulating_rod=<%> power=<% of rated, 0..100>
   *   processed=<events processed since boot> depth=<event queue depth>
   * ```
   * (one line; `n` restarts at 1 after each boot). The link thread snapshots under the state lock,
   * so a deadlocked panel stops sending. Required.
   */
  uartTx: (line: string) => void;
  /** Ground truth (`src: 'pi'`): edges accepted/bounced, q_put/q_drop/q_get/done, lock waits, thread deaths, power. Default: none. */
  truth?: GroundTruthLog;
  /** RPi.GPIO bouncetime: edges within this many ms of the last accepted edge on a pin are ignored. Default 5. */
  debounceMs?: number;
  /** Console line ending. Default `"\r\n"` (a serial getty). */
  eol?: '\r\n' | '\n';
}

/** Lifecycle: `off` → `booting` → `on` → (powerOff) `off`. */
export type PanelPhase = 'off' | 'booting' | 'on';

/** Raised by a `powerOn` that lost power before the firmware was up; `powerLost === true`. */
export class PanelPowerLostError extends Error {
  readonly powerLost = true;
}

const ROLES: readonly ThreadName[] = ['irq', 'processor', 'control', 'esplink'];

// Under Node 20 tsx's loader is not inherited by worker threads, and `execArgv: ['--import',
// 'tsx']` does not help for a .ts entry (ERR_UNKNOWN_FILE_EXTENSION). So each worker starts from
// this small CommonJS script, registers tsx itself, then imports the TypeScript thread code. The
// tsx path is resolved here (not in the worker, whose eval'd script resolves from the cwd), and
// not with import.meta.resolve because under mocha this file is loaded as CommonJS, where tsx's
// import.meta has no resolve().
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi)
  .then((api) => { api.register(); return import(workerData.entry); })
  .then((m) => m.runThread(workerData.init))
  .catch((e) => process.nextTick(() => { throw e; }));
`;

/** URL of tsx's ESM API (its CommonJS build cannot register the ESM loader from a worker). */
function tsxEsmApiUrl(): string {
  const req = createRequire(import.meta.url);
  const pkgPath = req.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
  const rel = pkg.exports['./esm/api']?.import?.default;
  if (!rel) throw new Error(`PanelFirmware: ${pkgPath} has no exports["./esm/api"].import; cannot start TypeScript worker threads`);
  return pathToFileURL(path.join(path.dirname(pkgPath), rel)).href;
}

interface Session {
  mem: PanelMemory;
  clock: DeviceClock;
  workers: Worker[];
  live: boolean;
  abortBoot: Array<(e: Error) => void>;
}

interface AtomicsWaitAsync {
  waitAsync(a: Int32Array, i: number, v: number, timeoutMs?: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

/**
 * Simulated Raspberry Pi control-panel firmware, v3.3 (the bounded event-queue design), with four
 * real threads (`worker_threads` over shared memory): interrupt/callback, event processor, control
 * logic and ESP link. Optionally one of the {@link PanelFault} variants.
 */
export class PanelFirmware {
  private phaseNow: PanelPhase = 'off';
  private session: Session | undefined;
  private readonly pins: Map<number, ButtonName>;
  private readonly debounceMs: number;
  private readonly eol: string;
  private readonly tsxApi = tsxEsmApiUrl();

  constructor(private readonly opts: PanelFirmwareOptions) {
    this.pins = validateGpioMap(opts.gpioMap);
    if (opts.fault !== undefined && !PANEL_FAULTS.includes(opts.fault)) {
      throw new RangeError(`PanelFirmware: options.fault must be one of ${PANEL_FAULTS.join(', ')}; got ${JSON.stringify(opts.fault)}`);
    }
    for (const [k, v] of [['seed', opts.seed], ['clock.offsetUs', opts.clock?.offsetUs], ['clock.driftPpm', opts.clock?.driftPpm]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`PanelFirmware: options.${k} must be a finite number; got ${String(v)}`);
    }
    this.debounceMs = opts.debounceMs ?? 5;
    if (!(this.debounceMs >= 0)) throw new RangeError(`PanelFirmware: options.debounceMs must be >= 0; got ${this.debounceMs}`);
    this.eol = opts.eol ?? '\r\n';
  }

  /** True from {@link powerOn} until {@link powerOff} (including boot). */
  get powered(): boolean {
    return this.phaseNow !== 'off';
  }

  get phase(): PanelPhase {
    return this.phaseNow;
  }

  /** Fault this instance runs, or null. */
  get fault(): PanelFault | null {
    return this.opts.fault ?? null;
  }

  /**
   * Boot: print the banner and `HIL boot fw=panel ver=3.3`, start the threads, resolve once all
   * four run. Edges are seen from then on. Rejects with {@link PanelPowerLostError} if
   * {@link powerOff} comes first; throws if already powered.
   */
  async powerOn(): Promise<void> {
    if (this.phaseNow !== 'off') throw new Error(`PanelFirmware.powerOn: the panel is already ${this.phaseNow}; power it off first`);
    const bootHostNs = nowNs();
    const mem = PanelMemory.create();
    initState(mem);
    const clock = new DeviceClock({ bootHostNs, offsetUs: this.opts.clock.offsetUs, driftPpm: this.opts.clock.driftPpm });
    const s: Session = { mem, clock, workers: [], live: true, abortBoot: [] };
    this.session = s;
    this.phaseNow = 'booting';
    this.opts.truth?.record({ t: bootHostNs, src: 'pi', kind: 'power', on: true, fault: this.fault });
    this.drain(s).catch((e: unknown) => queueMicrotask(() => { throw e; }));

    const out = new ConsoleWriter(mem, clock, this.eol, THREAD_IDS.main);
    out.locked((o) => {
      o.line('========================================');
      o.line('  Reactor Control Panel v3.3');
      o.line('========================================');
      o.line(`GPIO: BCM mode, ${BUTTONS.length} buttons, pull-up, bouncetime=${this.debounceMs}ms`);
      o.line(`Event queue: maxsize=${QUEUE_CAP}`);
      o.hil('boot', { fw: 'panel', ver: '3.3' });
    });
    try {
      await Promise.all(ROLES.map((role) => this.startThread(s, role, bootHostNs)));
    } catch (e) {
      if (s.live) await this.powerOff(); // a thread that cannot start leaves no half-booted panel
      throw e;
    }
    out.locked((o) => {
      o.line('✓ Event processor thread started');
      o.line('✓ Control logic thread started');
      o.line('✓ ESP link on /dev/serial0 @ 115200');
      o.line('🚀 Control panel ready');
    });
    if (s.live) this.phaseNow = 'on';
  }

  /**
   * Power loss: terminate every thread at once. No goodbye lines; console bytes not yet drained
   * and queued events are lost. Safe to call in any phase (a no-op when off).
   */
  async powerOff(): Promise<void> {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    this.phaseNow = 'off';
    s.live = false;
    Atomics.notify(s.mem.ctl, C.W_POS); // release the drain loop's waitAsync
    this.opts.truth?.record({ t: nowNs(), src: 'pi', kind: 'power', on: false });
    await Promise.all(s.workers.map((w) => w.terminate()));
    const lost = new PanelPowerLostError('PanelFirmware.powerOn: power was cut during boot');
    for (const abort of s.abortBoot) abort(lost);
  }

  /**
   * A wired input changed level at true host time `tNs` (may be slightly in the future: the device
   * sees it then). Inputs are pulled up: `level` 0 = pressed. Ignored unless the panel is `on`.
   * Throws RangeError for a pin that is not in `gpioMap` or a level other than 0/1.
   */
  deliverGpio(bcm: number, level: 0 | 1, tNs: bigint): void {
    if (!this.pins.has(bcm)) throw new RangeError(`PanelFirmware.deliverGpio: BCM ${bcm} is not wired (gpioMap uses ${[...this.pins.keys()].join(',')})`);
    if (level !== 0 && level !== 1) throw new RangeError(`PanelFirmware.deliverGpio: level must be 0 or 1; got ${String(level)}`);
    const s = this.session;
    if (!s || this.phaseNow !== 'on') return;
    const ctl = s.mem.ctl;
    const tail = Atomics.load(ctl, C.G_TAIL);
    if (((tail - Atomics.load(ctl, C.G_HEAD)) | 0) >= GPIO_SLOTS) {
      this.opts.truth?.record({ t: tNs, src: 'pi', kind: 'gpio_overrun', pin: bcm, level });
      return;
    }
    const slot = (tail >>> 0) % GPIO_SLOTS;
    s.mem.gEdge[slot] = (bcm << 1) | level;
    s.mem.gT[slot] = tNs;
    Atomics.store(ctl, C.G_TAIL, (tail + 1) | 0);
    Atomics.notify(ctl, C.G_TAIL);
  }

  private startThread(s: Session, role: ThreadName, bootHostNs: bigint): Promise<void> {
    const init: ThreadInit = {
      role,
      buffers: s.mem.buffers,
      bootHostNs,
      offsetUs: this.opts.clock.offsetUs,
      driftPpm: this.opts.clock.driftPpm,
      eol: this.eol,
      fault: this.opts.fault ?? null,
      seed: this.opts.seed,
      debounceMs: this.debounceMs,
      pins: [...this.pins],
    };
    const w = new Worker(BOOTSTRAP, {
      eval: true,
      name: `panel-${role}`,
      workerData: { init, tsxApi: this.tsxApi, entry: new URL('./threads/thread-main.ts', import.meta.url).href },
    });
    s.workers.push(w);
    return new Promise<void>((resolve, reject) => {
      s.abortBoot.push(reject);
      const record = (kind: string, fields: Record<string, unknown>): void =>
        this.opts.truth?.record({ t: nowNs(), src: 'pi', kind, thread: role, ...fields });
      w.on('message', (m: ThreadMessage) => {
        if (!s.live) return;
        if (m.t === 'ready') resolve();
        else if (m.t === 'truth') this.opts.truth?.record({ t: m.at, src: 'pi', kind: m.kind, thread: role, ...m.fields });
        else this.opts.uartTx(m.line);
      });
      w.on('error', (e: Error) => {
        if (!s.live) return;
        record('thread_death', { error: `${e.name}: ${e.message}` });
        reject(e);
      });
      w.on('exit', (code: number) => {
        if (s.live) record('thread_exit', { code });
      });
    });
  }

  /** Main side of the console: hand every complete write to `console` as soon as it lands. */
  private async drain(s: Session): Promise<void> {
    const atomics = Atomics as unknown as AtomicsWaitAsync;
    const ctl = s.mem.ctl;
    while (s.live) {
      const w = Atomics.load(ctl, C.W_POS);
      if (w === Atomics.load(ctl, C.R_POS)) {
        const r = atomics.waitAsync(ctl, C.W_POS, w);
        if (r.async) await r.value;
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve)); // let the rest of the process run
      }
      if (!s.live) return;
      const chunk = drainConsole(s.mem);
      if (chunk) this.opts.console(chunk);
    }
  }
}

function validateGpioMap(map: Record<ButtonName, number>): Map<number, ButtonName> {
  if (typeof map !== 'object' || map === null) throw new TypeError(`PanelFirmware: options.gpioMap must be an object button → BCM pin; got ${String(map)}`);
  const pins = new Map<number, ButtonName>();
  for (const b of BUTTONS) {
    const pin = map[b];
    if (!Number.isInteger(pin) || pin < 0 || pin > 27) throw new RangeError(`PanelFirmware: options.gpioMap.${b} must be a BCM pin 0..27; got ${String(pin)}`);
    const other = pins.get(pin);
    if (other) throw new RangeError(`PanelFirmware: options.gpioMap.${b} = ${pin} is already used by ${other}`);
    pins.set(pin, b);
  }
  for (const k of Object.keys(map)) if (!BUTTONS.includes(k as ButtonName)) throw new RangeError(`PanelFirmware: options.gpioMap has unknown button ${JSON.stringify(k)}`);
  return pins;
}
