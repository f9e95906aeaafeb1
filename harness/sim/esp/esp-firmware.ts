import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { DeviceClock, formatHil } from '../device-clock.ts';
import type { GroundTruthLog } from '../ground-truth.ts';
import type { EspFault } from './faults.ts';
import { CPU_EMITTING, CPU_HALTED, CPU_RUN, SharedCore, type FirmwareBootData, type FirmwareMessage, type HostMessage, type ResetReason } from './shared.ts';

/** Default task-watchdog timeout (the real ESP-IDF default is 5 s; see {@link EspFirmwareOptions.wdtTimeoutMs}). */
export const DEFAULT_WDT_TIMEOUT_MS = 300;
/** How long a boot may take before powerOn() gives up (a cold tsx compile of the worker is slow). */
const BOOT_TIMEOUT_MS = 15_000;
/** How long halting waits for the worker to finish a post it has started. */
const HALT_SPIN_MS = 100;

// Worker threads do not inherit tsx from `--import=tsx` on Node 20 (the worker's .ts entry fails
// with "Unknown file extension"), also not with `execArgv: ['--import', 'tsx']`. A tiny eval
// bootstrap that registers tsx's ESM hooks in the worker and then imports the entry works under
// `node --import=tsx`, `tsx` and mocha's `--import=tsx` alike.
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((m) => { m.register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); });`;

/** Options of {@link EspFirmware}. */
export interface EspFirmwareOptions {
  /** Broken firmware variant to run (see {@link EspFault}). Default: none, the fixed firmware. */
  fault?: EspFault;
  /** Seed for everything random in the firmware (database write durations). Required. */
  seed: number;
  /**
   * The device clock: reading at boot (µs) and rate error (ppm). The boot host time is taken at
   * each power-on and each watchdog reset, so the clock restarts at `offsetUs` on every boot.
   */
  clock: { offsetUs: number; driftPpm: number };
  /** Receives every byte the ESP prints on its serial console (the bench writes them to a PTY). */
  console: (chunk: Buffer) => void;
  /** Ground-truth log for device-internal events (`src: 'esp'`). Default: none. */
  truth?: GroundTruthLog;
  /** Address the HTTP server binds. Default `'127.0.0.1'`. */
  host?: string;
  /**
   * HTTP port. Default 0: the first boot picks a free port and every later boot reuses it, so the
   * rig's URL stays valid across power cycles (if it was taken meanwhile, the firmware prints a
   * `W: port … is busy` line and {@link EspFirmware.url} changes).
   */
  port?: number;
  /** Line ending of console output. Default `'\r\n'` (Arduino `Serial.println`). */
  eol?: string;
  /**
   * Task-watchdog timeout in ms. Default {@link DEFAULT_WDT_TIMEOUT_MS} (300). The real chip's
   * task watchdog fires after 5 s; it is scaled down so that a sim run shows the starvation bug
   * in a fraction of a second. A healthy handler returns in microseconds and one `esp-sync-db`
   * request holds the core 20–40 ms, so anything from ~100 ms up keeps the same behaviour.
   */
  wdtTimeoutMs?: number;
  /**
   * Called when the simulation itself fails (the firmware worker crashed or could not reboot):
   * a harness fault, not a firmware behaviour. Default: print to stderr.
   */
  onSimError?: (err: Error) => void;
}

/**
 * Power states: `off` → `booting` → `on`; a watchdog reset goes `on` → `resetting` → `on`.
 * Every state but `off` counts as powered.
 */
export type EspPowerState = 'off' | 'booting' | 'on' | 'resetting';

/**
 * The simulated ESP32 panel-link board: firmware in its own worker thread (an HTTP server on
 * loopback, a circular buffer of 10 database-log events drained by `loop()`, the Pi's state over
 * a UART) with its CPU core modelled: device time comes from the model, not the host, and the
 * task watchdog fires when the modelled core was busy for its whole timeout.
 *
 * Console: banner, `HIL … boot fw=esp ver=1.4`, then `q_put`/`q_drop`/`q_get`/`done` per
 * request, `state src=pi …` when the Pi's state changes, `hb thread=loop` every 250 ms, and on a
 * watchdog reset the ESP-IDF `task_wdt` panic text plus `HIL … wdt` (see docs/telemetry.md).
 */
export class EspFirmware {
  private readonly opts: Required<Omit<EspFirmwareOptions, 'fault' | 'truth'>> & Pick<EspFirmwareOptions, 'fault' | 'truth'>;
  private powerState: EspPowerState = 'off';
  private boot: Boot | undefined;
  private booting: Promise<{ url: string }> | undefined;
  private port: number;
  private currentUrl: string | undefined;
  private bootCount = 0;
  private wdtCount = 0;

  constructor(options: EspFirmwareOptions) {
    this.opts = {
      fault: options.fault,
      truth: options.truth,
      seed: options.seed,
      clock: options.clock,
      console: options.console,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      eol: options.eol ?? '\r\n',
      wdtTimeoutMs: options.wdtTimeoutMs ?? DEFAULT_WDT_TIMEOUT_MS,
      onSimError: options.onSimError ?? ((e) => console.error('[sim esp]', e)),
    };
    const o = this.opts;
    const bad = (field: string, want: string, got: unknown): never => {
      throw new TypeError(`EspFirmware option "${field}" must be ${want}, got ${String(got)}`);
    };
    if (!Number.isFinite(o.seed)) bad('seed', 'a finite number', o.seed);
    if (!Number.isFinite(o.clock?.offsetUs)) bad('clock.offsetUs', 'a finite number of µs', o.clock?.offsetUs);
    if (!Number.isFinite(o.clock?.driftPpm) || Math.abs(o.clock.driftPpm) >= 1e5) bad('clock.driftPpm', 'a number of ppm below 1e5', o.clock?.driftPpm);
    if (typeof o.console !== 'function') bad('console', 'a function', o.console);
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) bad('port', 'an integer 0–65535', o.port);
    if (!(o.wdtTimeoutMs > 0) || !Number.isFinite(o.wdtTimeoutMs)) bad('wdtTimeoutMs', 'a positive number of ms', o.wdtTimeoutMs);
    if (typeof o.eol !== 'string' || o.eol === '') bad('eol', 'a non-empty string', o.eol);
    if (o.fault !== undefined && o.fault !== 'esp-sync-db') bad('fault', '"esp-sync-db" or undefined', o.fault);
    this.port = o.port;
  }

  /** Base URL of the HTTP server (`http://127.0.0.1:PORT`). Known from the first boot on; kept while off. */
  get url(): string {
    if (this.currentUrl === undefined) throw new Error(`EspFirmware has no URL yet: power it on first (state=${this.powerState})`);
    return this.currentUrl;
  }

  /** True unless {@link state} is `off` (booting and watchdog resets count as powered). */
  get powered(): boolean {
    return this.powerState !== 'off';
  }

  get state(): EspPowerState {
    return this.powerState;
  }

  /** Watchdog resets since construction. */
  get watchdogResets(): number {
    return this.wdtCount;
  }

  /**
   * Apply power: the ROM prints its reset banner, the firmware worker starts and boots. Resolves
   * once the HTTP server listens; while booting or resetting it returns the same boot, while on
   * it resolves at once. Rejects if the firmware fails to boot within 15 s or power is removed.
   */
  powerOn(): Promise<{ url: string }> {
    if (this.powerState === 'on' && this.currentUrl !== undefined) return Promise.resolve({ url: this.currentUrl });
    this.booting ??= this.track(this.start('poweron'));
    return this.booting;
  }

  /**
   * Power loss: the CPU stops at once (nothing more is printed, the buffer and Pi state are lost),
   * the worker is terminated and its server socket closed. Resolves when the thread has exited.
   * A no-op while off.
   */
  async powerOff(): Promise<void> {
    const boot = this.boot;
    this.boot = undefined;
    this.booting = undefined;
    this.powerState = 'off';
    if (!boot) return;
    boot.halt();
    await boot.terminate();
  }

  /**
   * One line from the Pi over the simulated UART (`STATE reactor=1 pressure=105 …`). Lines that
   * arrive while the ESP is not running (off, booting, resetting) are lost, as on the real link.
   */
  uartRx(line: string): void {
    if (this.powerState !== 'on' || !this.boot) return;
    this.boot.send({ t: 'uart', line });
  }

  // ---- internals ------------------------------------------------------------------------------

  private async start(reason: ResetReason): Promise<{ url: string }> {
    this.powerState = reason === 'poweron' ? 'booting' : 'resetting';
    const bootNumber = this.bootCount++;
    const bootHostNs = process.hrtime.bigint();
    for (const line of romBanner(reason)) this.opts.console(Buffer.from(line + this.opts.eol));
    const boot = new Boot(
      {
        fault: this.opts.fault,
        seed: (this.opts.seed ^ Math.imul(bootNumber, 0x9e3779b9)) >>> 0,
        bootHostNs,
        offsetUs: this.opts.clock.offsetUs,
        driftPpm: this.opts.clock.driftPpm,
        host: this.opts.host,
        listenPort: this.port,
        eol: this.opts.eol,
        wdtTimeoutMs: this.opts.wdtTimeoutMs,
        wantTruth: this.opts.truth !== undefined,
        resetReason: reason,
      },
      this.opts.console,
      this.opts.truth,
      (err) => this.onCrash(boot, err),
      (m) => this.onWatchdog(boot, m),
    );
    this.boot = boot;
    let port: number;
    try {
      port = await boot.ready(BOOT_TIMEOUT_MS);
    } catch (e) {
      if (this.boot === boot) await this.powerOff();
      throw e;
    }
    if (this.boot !== boot) throw new Error(`ESP was powered off while booting (state=${this.powerState})`);
    this.port = port;
    this.currentUrl = `http://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${port}`;
    this.powerState = 'on';
    return { url: this.currentUrl };
  }

  /** Remember a boot in progress (powerOn() joins it) until it settles. */
  private track(boot: Promise<{ url: string }>): Promise<{ url: string }> {
    const p: Promise<{ url: string }> = boot.finally(() => {
      if (this.booting === p) this.booting = undefined;
    });
    return p;
  }

  /**
   * The firmware's modelled task watchdog fired at model time `m.at` (the core was busy for the
   * whole timeout, so the idle task never ran): the panic handler prints, the chip reboots.
   */
  private onWatchdog(boot: Boot, m: Extract<FirmwareMessage, { t: 'wdt' }>): void {
    if (this.boot !== boot || this.powerState !== 'on') return;
    this.powerState = 'resetting';
    this.wdtCount++;
    // The panic handler stops the CPU first; everything it printed before is delivered.
    boot.halt();
    const { at, running } = m;
    const starvedNs = m.starvedNs;
    const tUs = boot.clock.nowUs(at);
    const e = `E (${Math.floor(tUs / 1000)}) task_wdt: `;
    const lines = [
      `${e}Task watchdog got triggered. The following tasks did not reset the watchdog in time:`,
      `${e} - IDLE (CPU 1)`,
      `${e}Tasks currently running:`,
      `${e}CPU 0: IDLE`,
      `${e}CPU 1: ${running}`,
      `${e}Aborting.`,
      formatHil(m.lastSeq + 1, tUs, 'wdt', { task: 'IDLE1', running, starved_us: Number(starvedNs / 1000n) }),
      '',
      'abort() was called at PC 0x400d9a3b on core 1',
      '',
      'Backtrace: 0x40083a1d:0x3ffbe9f0 0x4008c1e5:0x3ffbea10 0x400d9a3b:0x3ffbea30',
      '',
      'Rebooting...',
    ];
    for (const l of lines) this.opts.console(Buffer.from(l + this.opts.eol));
    this.opts.truth?.record({ t: at, src: 'esp', kind: 'wdt', task: 'IDLE1', running, starved_us: Number(starvedNs / 1000n) });
    const reboot = (async () => {
      await boot.terminate();
      if (this.boot !== boot) throw new PoweredOff();
      return this.start('wdt');
    })();
    this.booting = this.track(reboot);
    reboot.catch((err: unknown) => {
      if (err instanceof PoweredOff || this.powerState === 'off') return;
      this.opts.onSimError(new Error('ESP did not come back after a watchdog reset', { cause: err }));
    });
    // A powerOn() caller waiting on this reboot gets the error; nobody else must see it as unhandled.
    this.booting.catch(() => undefined);
  }

  private onCrash(boot: Boot, err: Error): void {
    if (this.boot !== boot) return;
    // While booting or resetting, the boot's own promise carries the error.
    const wasOn = this.powerState === 'on';
    this.boot = undefined;
    this.powerState = 'off';
    if (wasOn) this.opts.onSimError(new Error(`ESP firmware worker crashed (sim fault, not firmware behaviour): ${err.message}`, { cause: err }));
  }
}

class PoweredOff extends Error {
  constructor() {
    super('ESP was powered off during a watchdog reset');
  }
}

/** What the ESP32 ROM bootloader prints before the application starts. */
function romBanner(reason: ResetReason): string[] {
  const rst = reason === 'poweron' ? 'rst:0x1 (POWERON_RESET)' : 'rst:0xc (SW_CPU_RESET)';
  return ['ets Jul 29 2019 12:21:46', '', `${rst},boot:0x13 (SPI_FAST_FLASH_BOOT)`, 'mode:DIO, clock div:1', 'entry 0x400805e4'];
}

/** One life of the firmware worker, from reset to halt. */
class Boot {
  readonly shared = new SharedCore();
  readonly clock: DeviceClock;
  /** Last HIL seq the firmware printed (the panic line continues from it). */
  lastSeq = 0;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly exited: Promise<void>;
  private readyPort: number | undefined;
  private readonly readyWaiters: Array<{ ok: (port: number) => void; fail: (e: Error) => void }> = [];
  private terminating = false;
  private crash: Error | undefined;

  constructor(
    params: Omit<FirmwareBootData, 'port' | 'shared'>,
    private readonly out: (chunk: Buffer) => void,
    private readonly truth: GroundTruthLog | undefined,
    onCrash: (err: Error) => void,
    private readonly onWdt: (m: Extract<FirmwareMessage, { t: 'wdt' }>) => void,
  ) {
    this.clock = new DeviceClock({ bootHostNs: params.bootHostNs, offsetUs: params.offsetUs, driftPpm: params.driftPpm });
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: FirmwareBootData = { ...params, port: port2, shared: this.shared.sab };
    this.worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: data, transferList: [port2], name: 'esp32' });
    port1.on('message', (m: FirmwareMessage) => this.dispatch(m));
    this.worker.on('error', (e) => {
      this.crash = e;
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        port1.close();
        const err = this.crash ?? new Error(`firmware worker exited with code ${code}`);
        for (const w of this.readyWaiters.splice(0)) w.fail(this.terminating ? new Error('ESP power removed while booting') : err);
        if (!this.terminating) onCrash(err);
        resolve();
      });
    });
  }

  /** The listening port, once the firmware has booted. */
  ready(timeoutMs: number): Promise<number> {
    if (this.readyPort !== undefined) return Promise.resolve(this.readyPort);
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`ESP did not finish booting within ${timeoutMs} ms`)), timeoutMs);
      this.readyWaiters.push({
        ok: (p) => {
          clearTimeout(timer);
          ok(p);
        },
        fail: (e) => {
          clearTimeout(timer);
          fail(e);
        },
      });
    });
  }

  send(m: HostMessage): void {
    this.port.postMessage(m);
  }

  /**
   * Stop the CPU: from now on the firmware cannot print. Then deliver everything it printed
   * before, synchronously, so the caller can print after the last real line.
   */
  halt(): void {
    const ctl = this.shared.ctl;
    const deadline = Date.now() + HALT_SPIN_MS;
    while (Atomics.compareExchange(ctl, 0, CPU_RUN, CPU_HALTED) === CPU_EMITTING && Date.now() < deadline) {
      // The worker is inside postMessage: microseconds.
    }
    Atomics.store(ctl, 0, CPU_HALTED);
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) this.dispatch(m.message as FirmwareMessage);
  }

  /** Terminate the thread (interrupts even a blocked Atomics.wait); resolves once it has exited. */
  async terminate(): Promise<void> {
    this.terminating = true;
    await this.worker.terminate();
    await this.exited;
  }

  private dispatch(m: FirmwareMessage): void {
    switch (m.t) {
      case 'out':
        if (m.seq !== undefined) this.lastSeq = m.seq;
        this.out(Buffer.from(m.text, 'utf8'));
        break;
      case 'truth':
        this.truth?.record(m.rec);
        break;
      case 'ready':
        this.readyPort = m.port;
        for (const w of this.readyWaiters.splice(0)) w.ok(m.port);
        break;
      case 'wdt':
        this.onWdt(m);
        break;
    }
  }
}
