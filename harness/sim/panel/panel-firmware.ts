import { DeviceClock } from '../device-clock.ts';
import type { GroundTruthLog } from '../ground-truth.ts';
import { BUTTONS, type ButtonName } from '../../devices/panel.ts';
import { PANEL_FAULTS, PANEL_INSTRUMENTATION, type PanelFault, type PanelInstrumentation } from './faults.ts';
import { Kernel, ModelCond, ModelMutex, type ThreadBody } from './model.ts';
import { GPIO_SLOTS, ModelConsole, PanelMemory, QUEUE_CAP, THREAD_IDS, Rng, type ThreadName } from './shared.ts';
import { initState } from './state.ts';
import { ThreadContext, type PanelModel } from './threads/context.ts';
import { runControl } from './threads/control.ts';
import { runEspLink } from './threads/esplink.ts';
import { runIrq } from './threads/irq.ts';
import { runProcessor } from './threads/processor.ts';

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
  /**
   * Instrumentation variants of the healthy firmware that put lines on the wire in orders real
   * firmware does (see {@link PanelInstrumentation}). Default: none (q_put printed with the put,
   * bounced edges not printed).
   */
  instrumentation?: readonly PanelInstrumentation[];
  /**
   * The earliest contact time of an input that may still be delivered (the relays know their
   * contacts milliseconds ahead). The model never runs past it, so a late-delivered edge still
   * lands at its own time. Default: none (only {@link paceLagMs} protects late inputs).
   */
  inputHorizon?: () => bigint | undefined;
  /**
   * The model runs this far behind the wall clock, ms, so that an input delivered up to this
   * late still lands at its own model time. Default 10.
   */
  paceLagMs?: number;
}



/** Lifecycle: `off` → `booting` → `on` → (powerOff) `off`. */
export type PanelPhase = 'off' | 'booting' | 'on';

/** Raised by a `powerOn` that lost power before the firmware was up; `powerLost === true`. */
export class PanelPowerLostError extends Error {
  readonly powerLost = true;
}

const ROLES: ReadonlyArray<[ThreadName, (ctx: ThreadContext) => ThreadBody]> = [
  ['irq', runIrq],
  ['processor', runProcessor],
  ['control', runControl],
  ['esplink', runEspLink],
];
/** A model that is this far behind the wall clock (beyond its pace lag) says so in the ground truth. */
const BEHIND_REPORT_NS = 20_000_000n;
/** The pacer looks at the model at least this often, ms (an input horizon can move without an input). */
const PACE_MAX_MS = 20;

interface Session {
  kernel: Kernel;
  model: PanelModel;
  live: boolean;
  timer: NodeJS.Timeout | undefined;
  immediate: NodeJS.Immediate | undefined;
  behind: boolean;
  abortBoot: Array<(e: Error) => void>;
}

const nowNs = (): bigint => process.hrtime.bigint();

/**
 * Simulated Raspberry Pi control-panel firmware, v3.3 (the bounded event-queue design), with four
 * modelled threads (interrupt/callback, event processor, control logic, ESP link) and optionally
 * one of the {@link PanelFault} variants.
 *
 * Device time is modelled: the threads run in a discrete-event model (model.ts) whose clock
 * advances by what the firmware model says each step costs (seeded), not by what the host's
 * scheduler did. The model is paced to the wall clock ({@link PanelFirmwareOptions.paceLagMs}
 * behind it), so the console and the UART keep real-time behaviour; host load delays when a line
 * leaves, never what it says. The same seed and the same input times give the same console.
 */
export class PanelFirmware {
  private phaseNow: PanelPhase = 'off';
  private session: Session | undefined;
  private readonly pins: Map<number, ButtonName>;
  private readonly debounceMs: number;
  private readonly eol: string;
  private readonly lagNs: bigint;
  private readonly instrumentation: ReadonlySet<PanelInstrumentation>;
  private boots = 0;

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
    const lagMs = opts.paceLagMs ?? 10;
    if (!(lagMs >= 0) || !Number.isFinite(lagMs)) throw new RangeError(`PanelFirmware: options.paceLagMs must be a number >= 0; got ${String(lagMs)}`);
    this.lagNs = BigInt(Math.round(lagMs * 1e6));
    for (const i of opts.instrumentation ?? []) {
      if (!PANEL_INSTRUMENTATION.includes(i)) throw new RangeError(`PanelFirmware: options.instrumentation must list some of ${PANEL_INSTRUMENTATION.join(', ')}; got ${JSON.stringify(i)}`);
    }
    this.instrumentation = new Set(opts.instrumentation ?? []);
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
   * Boot: print the banner and `HIL boot fw=panel ver=3.3` at power-on, start the threads after
   * the modelled boot time (150–250 ms of device time), resolve once they run. Edges are seen from
   * then on. Rejects with {@link PanelPowerLostError} if {@link powerOff} comes first; throws if
   * already powered.
   */
  powerOn(): Promise<void> {
    if (this.phaseNow !== 'off') throw new Error(`PanelFirmware.powerOn: the panel is already ${this.phaseNow}; power it off first`);
    const bootNs = nowNs();
    const bootNumber = this.boots++;
    const truth = this.opts.truth;
    const kernel = new Kernel(bootNs, {
      onThreadError: (th, e) => {
        const err = e instanceof Error ? e : new Error(String(e));
        truth?.record({ t: kernel.now, src: 'pi', kind: 'thread_death', thread: th.name, error: `${err.name}: ${err.message}` });
      },
      onLockWait: (th, lock, waitedNs, holder) => truth?.record({ t: kernel.now, src: 'pi', kind: 'lock_wait', thread: th.name, lock, waited_ns: waitedNs, holder: holder?.name ?? null }),
      onLockStuck: (th, lock, holder) => truth?.record({ t: kernel.now, src: 'pi', kind: 'lock_stuck', thread: th.name, lock, holder: holder?.name ?? null }),
    });
    const clock = new DeviceClock({ bootHostNs: bootNs, offsetUs: this.opts.clock.offsetUs, driftPpm: this.opts.clock.driftPpm });
    const mem = new PanelMemory();
    initState(mem);
    const model: PanelModel = {
      kernel,
      mem,
      clock,
      out: new ModelConsole(clock, this.eol, () => kernel.now),
      fault: this.opts.fault ?? null,
      wireOrder: this.instrumentation.has('racy-q-put') ? 'racy' : 'atomic',
      rawEdges: this.instrumentation.has('raw-edges'),
      // every boot draws afresh, but from the seed: a power cycle is as reproducible as the first boot
      seed: (this.opts.seed ^ Math.imul(bootNumber, 0x9e3779b9)) >>> 0,
      debounceMs: this.debounceMs,
      pins: this.pins,
      stateLock: new ModelMutex(kernel, 'state'),
      queueLock: new ModelMutex(kernel, 'queue'),
      queuePut: new ModelCond(kernel),
      queueGet: new ModelCond(kernel),
      gpio: [],
      gpioCond: new ModelCond(kernel),
      truth: (kind, t, fields = {}) => truth?.record({ t, src: 'pi', kind, ...fields }),
      uartTx: (line) => this.opts.uartTx(line),
    };
    const s: Session = { kernel, model, live: true, timer: undefined, immediate: undefined, behind: false, abortBoot: [] };
    this.session = s;
    this.phaseNow = 'booting';
    // The device clock of this boot: a harness's mapping of device times is checked against it.
    truth?.record({ t: bootNs, src: 'pi', kind: 'power', on: true, fault: this.fault, instrumentation: [...this.instrumentation], clock_offset_us: this.opts.clock.offsetUs, clock_drift_ppm: this.opts.clock.driftPpm });

    const out = model.out;
    // Printed at power-on in model time, so it leaves like every other line: once the paced model
    // has reached it. (Sent at once, the boot line alone would arrive with less delay than the rest,
    // and a harness fitting the device clock to arrival times would place later lines too early.)
    kernel.at(bootNs, () => {
      out.line('========================================');
      out.line('  Reactor Control Panel v3.3');
      out.line('========================================');
      out.line(`GPIO: BCM mode, ${BUTTONS.length} buttons, pull-up, bouncetime=${this.debounceMs}ms`);
      out.line(`Event queue: maxsize=${QUEUE_CAP}`);
      out.hil('boot', { fw: 'panel', ver: '3.3' });
    });
    const upNs = bootNs + new Rng(model.seed).us(150_000, 250_000); // the interpreter imports, GPIO setup
    const up = new Promise<void>((resolve, reject) => {
      s.abortBoot.push(reject);
      for (const [role, run] of ROLES) kernel.spawn(role, THREAD_IDS[role], run(new ThreadContext(model, role)), upNs);
      kernel.at(upNs, () => {
        out.line('✓ Event processor thread started');
        out.line('✓ Control logic thread started');
        out.line('✓ ESP link on /dev/serial0 @ 115200');
        out.line('🚀 Control panel ready');
        this.phaseNow = 'on';
        resolve();
      });
    });
    this.pace(s);
    return up;
  }

  /**
   * Power loss: every thread stops at once. No goodbye lines; console bytes the model has not
   * handed out yet and queued events are lost. Safe to call in any phase (a no-op when off).
   */
  powerOff(): Promise<void> {
    const s = this.session;
    if (!s) return Promise.resolve();
    this.session = undefined;
    this.phaseNow = 'off';
    s.live = false;
    s.kernel.stop();
    if (s.timer) clearTimeout(s.timer);
    if (s.immediate) clearImmediate(s.immediate);
    this.opts.truth?.record({ t: nowNs(), src: 'pi', kind: 'power', on: false });
    const lost = new PanelPowerLostError('PanelFirmware.powerOn: power was cut during boot');
    for (const abort of s.abortBoot) abort(lost);
    return Promise.resolve();
  }

  /**
   * A wired input changed level at true host time `tNs` (normally slightly in the future: the
   * device sees it then, in model time). Inputs are pulled up: `level` 0 = pressed. Ignored unless
   * the panel is `on`. An input that comes after the model has passed its time is taken at the
   * model's now and recorded as `late_input` in the ground truth. Throws RangeError for a pin that
   * is not in `gpioMap` or a level other than 0/1.
   */
  deliverGpio(bcm: number, level: 0 | 1, tNs: bigint): void {
    if (!this.pins.has(bcm)) throw new RangeError(`PanelFirmware.deliverGpio: BCM ${bcm} is not wired (gpioMap uses ${[...this.pins.keys()].join(',')})`);
    if (level !== 0 && level !== 1) throw new RangeError(`PanelFirmware.deliverGpio: level must be 0 or 1; got ${String(level)}`);
    const s = this.session;
    if (!s || this.phaseNow !== 'on') return;
    const { kernel, model } = s;
    if (tNs < kernel.now) this.opts.truth?.record({ t: tNs, src: 'pi', kind: 'late_input', pin: bcm, level, late_ns: kernel.now - tNs });
    kernel.at(tNs, () => {
      if (model.gpio.length >= GPIO_SLOTS) {
        this.opts.truth?.record({ t: kernel.now, src: 'pi', kind: 'gpio_overrun', pin: bcm, level });
        return;
      }
      model.gpio.push({ pin: bcm, level, tNs });
      model.gpioCond.notify();
    });
    this.wakePacer(s);
  }

  /** Run the model up to the wall clock (minus the pace lag, and never past the input horizon). */
  private pace(s: Session): void {
    s.timer = undefined;
    s.immediate = undefined;
    if (!s.live) return;
    const wall = nowNs();
    let target = wall - this.lagNs;
    const horizon = this.opts.inputHorizon?.();
    if (horizon !== undefined && horizon - 1n < target) target = horizon - 1n;
    const due = s.kernel.nextAt;
    if (due !== undefined) {
      const behindNs = wall - this.lagNs - due;
      if (behindNs > BEHIND_REPORT_NS && !s.behind) {
        s.behind = true;
        this.opts.truth?.record({ t: wall, src: 'pi', kind: 'model_behind', behind_ns: behindNs, waiting_for_input: horizon !== undefined && due >= horizon });
      } else if (behindNs <= 0n && s.behind) {
        s.behind = false;
      }
    }
    if (target > s.kernel.now) s.kernel.runUntil(target);
    const chunk = s.model.out.take();
    if (chunk && s.live) this.opts.console(chunk);
    if (!s.live) return;
    const next = s.kernel.nextAt;
    let delayMs = PACE_MAX_MS;
    if (next !== undefined) {
      const ms = Number(next + this.lagNs - nowNs()) / 1e6;
      delayMs = Math.min(PACE_MAX_MS, Math.max(0, Math.ceil(ms)));
    }
    s.timer = setTimeout(() => this.pace(s), delayMs);
  }

  /** An input came: let the model take it as soon as it is due. */
  private wakePacer(s: Session): void {
    if (s.immediate) return;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    s.immediate = setImmediate(() => this.pace(s));
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
