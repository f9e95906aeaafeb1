import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { StateError } from '../../core/errors.ts';
import { PtyPair } from '../pty.ts';
import { ensureStandardFirmataHex, parseIntelHex } from './hex.ts';
import { PIN_COUNT, PIN_STATES, STAT, STAT_SLOTS, portOf, type HostMessage, type PinState, type WorkerData, type WorkerMessage } from './shared.ts';

export type { PinState } from './shared.ts';
export { portOf } from './shared.ts';

/** How long start() and reset() wait for the worker (a cold tsx compile of the worker is slow). */
const BOOT_TIMEOUT_MS = 15_000;

// Worker threads do not inherit tsx from `--import=tsx` on Node 20: register it in the worker
// from an eval'ed bootstrap, then import the entry (same approach as harness/sim/esp).
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((m) => { m.register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); });`;

export interface AvrFirmataBoardOptions {
  /** Intel HEX image to run. Default: StandardFirmata for the Uno, from {@link ensureStandardFirmataHex}. */
  hexPath?: string;
  /** How far simulated time may run ahead of the host clock before the worker sleeps. Default 0.5 ms. */
  leadMs?: number;
  /** When the host falls further behind than this, the lost time is given up (counted in `slipMs`). Default 20 ms. */
  maxLagMs?: number;
}

/** One change of a pin's state, stamped twice. */
export interface PinChange {
  pin: number;
  state: PinState;
  /** Logic level of the line: the driven level for an output, 1 for a pull-up, else 0. */
  level: 0 | 1;
  /** Host monotonic time (`process.hrtime.bigint()`) at which the emulated CPU made the change. */
  hostNs: bigint;
  /** Simulated time since the boot this change belongs to, in ns. */
  simNs: number;
  /** Boot number (1 = first power-up, +1 per {@link AvrFirmataBoard.reset}). */
  boot: number;
}

export interface AvrStats {
  /** Simulated time since start, summed over resets. */
  simulatedMs: number;
  /** Host time since start. */
  wallMs: number;
  /** Host time the worker spent executing instructions (≈ its CPU use; more under contention). */
  busyMs: number;
  /** Simulated time given up because the host could not keep up. Zero on an idle 2-core machine. */
  slipMs: number;
  boots: number;
}

interface PinWaiter {
  pin: number;
  test: (c: PinChange) => boolean;
  resolve: (c: PinChange) => void;
}

type Events = {
  pin: [change: PinChange];
  /** Bytes the firmware transmitted on its USART (they also go to the PTY). */
  tx: [bytes: Buffer, hostNs: bigint];
  /** Bytes a host wrote to the PTY, as they leave it for the firmware's USART. */
  rx: [bytes: Buffer, hostNs: bigint];
  boot: [boot: number, hostNs: bigint];
  /** The worker died: a harness fault, not a firmware behaviour. */
  fault: [error: Error];
};

/**
 * An Arduino Uno running real firmware (by default StandardFirmata 2.x) in avr8js, on a real
 * pseudo-terminal: the driver opens {@link path} with serialport exactly as it opens a USB
 * adapter on a bench.
 *
 * **Machine.** ATmega328P at 16 MHz: CPU, Timer0/1/2, USART0, ports B/C/D, clock prescaler and
 * ADC, in a `worker_threads` Worker so the emulation never waits on the test's event loop.
 *
 * **Pacing.** Simulated time is tied to the host monotonic clock: the worker runs until the
 * simulation is `leadMs` (0.5 ms) ahead of the host, then sleeps off the lead (`Atomics.wait`, no
 * spinning) and yields to its event loop for messages. When the host cannot keep up (it takes
 * about one core), the worker does not race to catch up: beyond `maxLagMs` behind it gives the
 * time up and counts it in {@link stats}().slipMs, so firmware timing stays true to its own clock.
 *
 * **Serial bridge.** Firmware USART output goes to the PTY master (and the `tx` event). Bytes the
 * host writes enter the USART one at a time at the firmware's baud rate in simulated time (each
 * starts when the previous one has been received), so a 3-byte Firmata message takes ~0.52 ms of
 * simulated time at 57600 baud. Bytes arriving while the firmware's receiver is disabled (during
 * the first instructions after a reset) are lost, as on the wire. There is no DTR: a host opening
 * the port does not reset the board; call {@link reset}.
 *
 * **Pins** use Arduino numbering (D0–D13, A0–A5 = 14–19). Every state change (output level,
 * direction, pull-up) is recorded in the worker as it happens and kept in {@link history}, so a
 * sub-millisecond glitch cannot hide between samples. {@link pinState}/{@link pinLevel} read
 * shared memory and are current to the instruction.
 */
export class AvrFirmataBoard extends EventEmitter<Events> {
  readonly path: string;
  private readonly pty: PtyPair;
  private readonly worker: Worker;
  private readonly stats64: Float64Array;
  private readonly pins: Uint8Array;
  private readonly wake: Int32Array;
  private readonly changes: PinChange[][] = Array.from({ length: PIN_COUNT }, () => []);
  /** Host time of the first boot: wall time in {@link stats} counts from here. */
  private startNs: bigint | undefined;
  private readonly exited: Promise<void>;
  private readonly waiters = new Set<PinWaiter>();
  private bootNumber = 0;
  private rxPosted = 0;
  private lastRxNs = 0n;
  private lastBootNs = 0n;
  private st: 'starting' | 'running' | 'resetting' | 'stopped' | 'faulted' = 'starting';
  /** Set when the worker died. */
  fault: Error | undefined;

  private constructor(program: Uint16Array, options: AvrFirmataBoardOptions) {
    super();
    const stats = new SharedArrayBuffer(STAT_SLOTS * 8);
    const pins = new SharedArrayBuffer(PIN_COUNT * 2);
    const wake = new SharedArrayBuffer(4);
    this.stats64 = new Float64Array(stats);
    this.pins = new Uint8Array(pins);
    this.wake = new Int32Array(wake);
    this.pty = new PtyPair();
    this.path = this.pty.path;
    const data: WorkerData = {
      program,
      stats,
      pins,
      wake,
      leadNs: (options.leadMs ?? 0.5) * 1e6,
      maxLagNs: (options.maxLagMs ?? 20) * 1e6,
    };
    this.worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: data, name: 'avr-uno' });
    this.worker.on('message', (msg: WorkerMessage) => this.dispatch(msg));
    this.worker.on('error', (error) => this.die(error));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.once('exit', (code) => {
      if (this.st !== 'stopped') this.die(new Error(`AVR worker exited unexpectedly with code ${code}`));
    });
    this.pty.on('data', (d: Buffer) => {
      this.rxPosted += d.length;
      this.lastRxNs = process.hrtime.bigint();
      this.post({ t: 'rx', bytes: new Uint8Array(d) });
      this.emit('rx', d, this.lastRxNs);
    });
  }

  /** Load the image, create the PTY, start the CPU. Resolves once the firmware is executing. */
  static async start(options: AvrFirmataBoardOptions = {}): Promise<AvrFirmataBoard> {
    const hexPath = options.hexPath ?? (await ensureStandardFirmataHex());
    let program: Uint16Array;
    try {
      program = parseIntelHex(fs.readFileSync(hexPath, 'utf8'));
    } catch (error) {
      throw new Error(`AvrFirmataBoard: cannot load ${hexPath}: ${(error as Error).message}`, { cause: error });
    }
    const board = new AvrFirmataBoard(program, options);
    try {
      await board.nextBoot('start');
    } catch (error) {
      await board.stop();
      throw error;
    }
    board.st = 'running';
    return board;
  }

  get state(): 'starting' | 'running' | 'resetting' | 'stopped' | 'faulted' {
    return this.st;
  }

  /** Boot number: 1 after start, +1 per reset. */
  get boots(): number {
    return this.bootNumber;
  }

  /** Host time at which the current boot's first instruction was due. */
  get bootNs(): bigint {
    return this.lastBootNs;
  }

  /** The pin's current state (output low/high, input, input with pull-up). */
  pinState(pin: number): PinState {
    portOf(pin);
    return PIN_STATES[this.pins[pin]!]!;
  }

  /**
   * The line's logic level: the driven level of an output; for an input, what {@link setInput}
   * drives, else 1 with the pull-up on and 0 without (a floating pin reads as 0 here).
   */
  pinLevel(pin: number): 0 | 1 {
    portOf(pin);
    return this.pins[PIN_COUNT + pin] ? 1 : 0;
  }

  /** True when the pin's DDR bit makes it an output. */
  isOutput(pin: number): boolean {
    const s = this.pinState(pin);
    return s === 'low' || s === 'high';
  }

  /**
   * Drive an input pin from outside (a contact or button): 0 or 1, or `null` to let go (the
   * pull-up, if on, takes over). Has no effect on the line while the pin is an output. Persists
   * across resets, as external wiring does.
   */
  setInput(pin: number, level: 0 | 1 | null): void {
    portOf(pin);
    if (level !== 0 && level !== 1 && level !== null) throw new RangeError(`setInput level must be 0, 1 or null, got ${String(level)}`);
    this.post({ t: 'input', pin, level });
  }

  /** Every state change of the pin since start (across resets), oldest first; optionally from a host time on. */
  history(pin: number, sinceNs?: bigint): PinChange[] {
    portOf(pin);
    const all = this.changes[pin]!;
    return sinceNs === undefined ? [...all] : all.filter((c) => c.hostNs >= sinceNs);
  }

  /**
   * Resolves with the first change of `pin` at or after `sinceNs` (default: now) whose state
   * satisfies `want` — including the current state if it already does and was reached after
   * `sinceNs`. Rejects after `withinMs`, naming the pin, the wish and what was seen.
   */
  waitForPin(pin: number, want: (s: PinState) => boolean, options: { withinMs: number; sinceNs?: bigint; describe?: string }): Promise<PinChange> {
    const since = options.sinceNs ?? process.hrtime.bigint();
    const hit = this.changes[pin]!.find((c) => c.hostNs >= since && want(c.state));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const waiter: PinWaiter = {
        pin,
        test: (c) => c.hostNs >= since && want(c.state),
        resolve: (c) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(c);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.history(pin, since).map((c) => c.state);
        reject(new Error(`pin ${pin}: expected ${options.describe ?? 'a matching state'} within ${options.withinMs} ms; saw [${seen.join(', ')}], now ${this.pinState(pin)} (board ${this.st})`));
      }, options.withinMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Resolves once the firmware has received every byte the host has written so far, the line
   * has then been quiet for `quietMs` of host time (default 20 ms: the host has stopped sending),
   * and the firmware has run at least `settleMs` (default 2 ms) of its own time since the last
   * byte (to act on it). Use it to look at the result of a burst of commands whose bytes are
   * queued but not yet delivered (a driver's `open()` resolves that way). Rejects after `withinMs`.
   */
  rxIdle(options: { withinMs: number; quietMs?: number; settleMs?: number }): Promise<void> {
    const quietNs = BigInt(Math.round((options.quietMs ?? 20) * 1e6));
    const settleNs = (options.settleMs ?? 2) * 1e6;
    const s = this.stats64;
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const poll = () => {
        const idle =
          s[STAT.RX_DONE]! >= this.rxPosted && process.hrtime.bigint() - this.lastRxNs >= quietNs && s[STAT.SIM_NS]! - s[STAT.RX_DONE_SIM_NS]! >= settleNs;
        if (idle) return resolve();
        if (this.st === 'stopped' || this.st === 'faulted' || Date.now() - t0 > options.withinMs) {
          return reject(new Error(`serial line not idle within ${options.withinMs} ms: ${s[STAT.RX_DONE]} of ${this.rxPosted} host bytes received by the firmware (board ${this.st})`));
        }
        setTimeout(poll, 2);
      };
      poll();
    });
  }

  /**
   * Hardware reset (reset button, or DTR on a real Uno): every register returns to its reset
   * value, so all pins go to high-impedance inputs, bytes in flight are lost, and the firmware
   * boots again from address 0. Resolves when the new boot has started executing. Emulation has
   * no bootloader: the firmware starts at once, not after Optiboot's ~0.5 s.
   */
  async reset(): Promise<void> {
    if (this.st !== 'running') throw new StateError('avr-uno', this.st, 'reset');
    this.st = 'resetting';
    const booted = this.nextBoot('reset');
    this.post({ t: 'reset' });
    await booted;
    this.st = 'running';
  }

  /** Simulated vs host time since start: a paced board keeps `simulatedMs + slipMs ≈ wallMs`. */
  stats(): AvrStats {
    const s = this.stats64;
    return {
      simulatedMs: s[STAT.SIM_NS]! / 1e6,
      wallMs: this.startNs === undefined ? 0 : Number(process.hrtime.bigint() - this.startNs) / 1e6,
      busyMs: s[STAT.BUSY_NS]! / 1e6,
      slipMs: s[STAT.SLIP_NS]! / 1e6,
      boots: s[STAT.BOOTS]!,
    };
  }

  /** Stop the CPU, terminate the worker, close the PTY (a host with the port open sees a disconnect). Safe to call twice. */
  async stop(): Promise<void> {
    if (this.st === 'stopped') return;
    this.st = 'stopped';
    const done = this.worker.terminate();
    Atomics.notify(this.wake, 0);
    await done;
    await this.exited;
    this.pty.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private post(msg: HostMessage): void {
    if (this.st === 'stopped' || this.st === 'faulted') return;
    this.worker.postMessage(msg);
    Atomics.notify(this.wake, 0);
  }

  private nextBoot(what: string): Promise<void> {
    const want = this.bootNumber + 1;
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('boot', onBoot);
        this.off('fault', onFault);
      };
      const onBoot = (n: number) => {
        if (n < want) return;
        cleanup();
        resolve();
      };
      const onFault = (e: Error) => {
        cleanup();
        reject(new Error(`AvrFirmataBoard ${what} failed: ${e.message}`, { cause: e }));
      };
      const timer = setTimeout(() => onFault(new Error(`no boot within ${BOOT_TIMEOUT_MS} ms`)), BOOT_TIMEOUT_MS);
      this.on('boot', onBoot);
      this.on('fault', onFault);
    });
  }

  private dispatch(msg: WorkerMessage): void {
    switch (msg.t) {
      case 'out': {
        // Output first, then pins, all in this one call: whoever a pin change wakes has seen
        // every byte the firmware sent in the same slice.
        if (msg.tx) {
          const bytes = Buffer.from(msg.tx);
          this.pty.write(bytes);
          this.emit('tx', bytes, msg.hostNs);
        }
        for (const [pin, s, simNs, hostNs] of msg.changes) {
          const state = PIN_STATES[s]!;
          const c: PinChange = { pin, state, level: state === 'high' || state === 'pullup' ? 1 : 0, hostNs, simNs, boot: msg.boot };
          this.changes[pin]!.push(c);
          for (const w of this.waiters) if (w.pin === pin && w.test(c)) w.resolve(c);
          this.emit('pin', c);
        }
        break;
      }
      case 'boot':
        this.bootNumber = msg.boot;
        this.startNs ??= msg.hostNs;
        this.lastBootNs = msg.hostNs;
        this.emit('boot', msg.boot, msg.hostNs);
        break;
    }
  }

  private die(error: Error): void {
    if (this.st === 'stopped' || this.st === 'faulted') return;
    this.st = 'faulted';
    this.fault = error;
    this.pty.close();
    if (this.listenerCount('fault') > 0) this.emit('fault', error);
    else console.error('[sim avr]', error);
  }
}
