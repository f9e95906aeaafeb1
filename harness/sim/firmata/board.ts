import type { GroundTruthLog } from '../ground-truth.ts';
import { FirmataParser, type FirmataHandlers } from './parser.ts';
import {
  CMD,
  DEFAULT_SAMPLING_INTERVAL_MS,
  encode7,
  MINIMUM_SAMPLING_INTERVAL_MS,
  modeName,
  PIN_MODE,
  SYSEX,
  UNO,
  type PinModeName,
} from './protocol.ts';
import { UartLine } from './uart.ts';

export type { PinModeName } from './protocol.ts';

/** What a pin drives: 0 or 1, or `null` when it drives nothing (input / high-Z / unpowered). */
export type PinLevel = 0 | 1 | null;

/**
 * Called when what a pin drives changes, or its mode changes.
 * @param pin Arduino pin number, 2–19 (0–1 are the UART and never reported).
 * @param level Driven level; `null` = not driven (INPUT, INPUT_PULLUP's weak pull-up, ANALOG, board off).
 * @param mode The firmware's mode for the pin (`OFF` while unpowered; during boot, before the
 *   firmware has configured the pins, `INPUT`/`OUTPUT` as the hardware is set).
 * @param tNs Host time (`process.hrtime.bigint()`) at which the pin changed on the simulated board.
 * @param duty Set only while the pin outputs PWM (analogWrite 1–254): duty cycle 0–1; `level` is 1.
 */
export type PinChangeListener = (pin: number, level: PinLevel, mode: PinModeName, tNs: bigint, duty?: number) => void;

/** Lifecycle: `off` → `booting` (version blink) → `running`; `reset()` goes back to `booting`. */
export type FirmataBoardState = 'off' | 'booting' | 'running';

export interface FirmataBoardSimOptions {
  /** Source name in the ground truth and in error messages. */
  name: string;
  /** Sends device output to the host, e.g. `(b) => pty.write(b)`. Called with paced batches. */
  send: (bytes: Buffer) => void;
  /** Where `pin`, `power`, `boot`, `input` and `fw_reset` records go. Default: none. */
  truth?: GroundTruthLog;
  /**
   * Length of the boot version blink on pin 13, ms. Default 150. The real firmware's blink
   * (2 then 5 flashes, 210 ms off / 40 ms on, 250 ms and 125 ms pauses) takes 2125 ms; the same
   * pattern is compressed into this time so a sim boots fast. 0 skips the blink (as
   * `Firmata.disableBlinkVersion()` does).
   */
  bootBlinkMs?: number;
  /** Name in the REPORT_FIRMWARE reply. Default `StandardFirmata.ino` (what `__FILE__` gives). */
  firmwareName?: string;
  /**
   * Version sent in REPORT_VERSION (protocol) and REPORT_FIRMWARE (firmware), and blinked at
   * boot. Default [2, 5]: StandardFirmata 2.5.x reports 2.5 for both.
   */
  version?: readonly [number, number];
  /** Serial line speed in both directions. Default 57600 (what StandardFirmata calls `begin` with). */
  baudRate?: number;
}

const NS_PER_MS = 1_000_000n;
// HardwareSerial's TX ring on the Uno (SERIAL_TX_BUFFER_SIZE 64): Serial.write blocks the whole
// firmware loop while it is full, so a long reply delays the processing of later commands.
const TX_RING_BYTES = 64n;
// Time the AVR spends reading and dispatching one received byte. With it a 3-byte DIGITAL_MESSAGE
// changes the pin ≈ 0.55 ms after its first byte starts, as measured running the real firmware in avr8js.
const BYTE_CPU_NS = 10_000n;
// Firmata's blinkVersion(): strobeBlinkPin(pin, count, 40 on, 210 off), delay(250) between, delay(125) after.
const BLINK_ON_MS = 40;
const BLINK_OFF_MS = 210;
const BLINK_GAP_MS = 250;
const BLINK_TAIL_MS = 125;

interface TimedByte {
  b: number;
  t: bigint;
}

interface Work {
  t: bigint;
  run: () => void;
}

interface Reported {
  level: PinLevel;
  mode: PinModeName;
  duty: number | null;
}

const hrtime = (): bigint => process.hrtime.bigint();
const maxT = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/**
 * The device side of an Arduino Uno running StandardFirmata 2.5.x, behind a serial line.
 *
 * It does not own the transport: the bench feeds host bytes to {@link receive} and ships what it
 * emits through `send`. Serial timing is modelled in host time: a host byte counts as received
 * when its stop bit would have arrived at `baudRate` (bytes that arrive together from a PTY are
 * spread out on a virtual line), the firmware handles it no earlier than that, and its output is
 * released in batches as each byte's stop bit would leave the board. Pin changes carry those
 * computed times, which the ground truth records.
 *
 * The message handling follows the firmware source (StandardFirmata.ino, Firmata.cpp,
 * FirmataParser.cpp, Boards.h) and the AVR behaviour underneath it (`pinMode(OUTPUT)` keeps the
 * PORT bit, so a pin with its pull-up on becomes OUTPUT HIGH on SYSTEM_RESET). Servo pulses,
 * I2C, serial pass-through and analog input noise are not simulated.
 */
export class FirmataBoardSim {
  readonly name: string;
  private readonly sendBytes: (bytes: Buffer) => void;
  private readonly truth: GroundTruthLog | undefined;
  private readonly bootBlinkMs: number;
  private readonly firmwareName: string;
  private readonly version: readonly [number, number];
  private readonly rxLine: UartLine;
  private readonly txLine: UartLine;
  private readonly parser: FirmataParser;
  private readonly listeners = new Set<PinChangeListener>();

  private st: FirmataBoardState = 'off';
  private rx: TimedByte[] = [];
  private tx: TimedByte[] = [];
  private bootSteps: Work[] = [];
  private bootWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** The firmware is busy until this host time. */
  private cpuAt = 0n;
  private inputCheckAt: bigint | undefined;
  private nextAnalogAt: bigint | undefined;
  private timer: NodeJS.Timeout | undefined;

  // AVR pin hardware: DDR bit, PORT bit (output level, or pull-up enable on an input), PWM duty.
  private readonly ddr = new Array<boolean>(UNO.TOTAL_PINS).fill(false);
  private readonly out = new Array<boolean>(UNO.TOTAL_PINS).fill(false);
  private readonly duty = new Array<number | null>(UNO.TOTAL_PINS).fill(null);
  // What the bench drives into the pins; survives power cycles, as the wiring does.
  private readonly ext = new Array<PinLevel>(UNO.TOTAL_PINS).fill(null);
  private readonly analogIn = new Array<number>(UNO.TOTAL_ANALOG_PINS).fill(0);

  // StandardFirmata's globals.
  private configured = false;
  private readonly pinConfig = new Array<number>(UNO.TOTAL_PINS).fill(0);
  private readonly pinState = new Array<number>(UNO.TOTAL_PINS).fill(0);
  private readonly servoAttached = new Array<boolean>(UNO.TOTAL_PINS).fill(false);
  private readonly reportPINs = new Array<number>(UNO.TOTAL_PORTS).fill(0);
  private readonly previousPINs = new Array<number>(UNO.TOTAL_PORTS).fill(0);
  private readonly portConfigInputs = new Array<number>(UNO.TOTAL_PORTS).fill(0);
  private analogInputsToReport = 0;
  private samplingIntervalMs = DEFAULT_SAMPLING_INTERVAL_MS;
  private isResetting = false;

  private readonly reported: Reported[] = Array.from({ length: UNO.TOTAL_PINS }, () => ({
    level: null,
    mode: 'OFF',
    duty: null,
  }));

  constructor(opts: FirmataBoardSimOptions) {
    if (typeof opts.name !== 'string' || opts.name === '') {
      throw new TypeError(`FirmataBoardSim: name must be a non-empty string, got ${JSON.stringify(opts.name)}`);
    }
    if (typeof opts.send !== 'function') throw new TypeError(`FirmataBoardSim ${opts.name}: send must be a function`);
    const blink = opts.bootBlinkMs ?? 150;
    if (!Number.isFinite(blink) || blink < 0) {
      throw new RangeError(`FirmataBoardSim ${opts.name}: bootBlinkMs must be >= 0, got ${String(blink)}`);
    }
    const version = opts.version ?? [2, 5];
    if (version.length !== 2 || !version.every((v) => Number.isInteger(v) && v >= 0 && v <= 127)) {
      throw new RangeError(`FirmataBoardSim ${opts.name}: version must be two integers 0-127, got ${JSON.stringify(version)}`);
    }
    this.name = opts.name;
    this.sendBytes = opts.send;
    this.truth = opts.truth;
    this.bootBlinkMs = blink;
    this.firmwareName = opts.firmwareName ?? 'StandardFirmata.ino';
    this.version = version;
    this.rxLine = new UartLine(opts.baudRate ?? 57600);
    this.txLine = new UartLine(opts.baudRate ?? 57600);
    this.parser = new FirmataParser(this.firmwareHandlers());
  }

  /** Current lifecycle state. */
  get state(): FirmataBoardState {
    return this.st;
  }

  /** Duration of one byte on the serial line (10 bit times), ns. */
  get byteNs(): bigint {
    return this.rxLine.byteNs;
  }

  /** Apply power: all pins high-Z, version blink on pin 13, then the version reports. Refused unless `off`. */
  powerOn(): void {
    if (this.st !== 'off') throw new Error(`FirmataBoardSim ${this.name}: powerOn() refused in state '${this.st}'`);
    const t = hrtime();
    this.record(t, 'power', { on: true });
    this.boot(t);
  }

  /**
   * Remove power: pins float, pending input and output are lost, input is ignored until
   * {@link powerOn}. Safe to call in any state (it is meant for `finally`).
   */
  powerOff(): void {
    if (this.st === 'off') return;
    const t = hrtime();
    this.flushTx(t);
    this.halt();
    this.st = 'off';
    this.record(t, 'power', { on: false });
    this.syncPins(t);
    const waiters = this.bootWaiters;
    this.bootWaiters = [];
    for (const w of waiters) w.reject(new Error(`FirmataBoardSim ${this.name}: powered off before it finished booting`));
  }

  /**
   * Pull the reset line (reset button; a PTY has no DTR): pins float at once and the firmware
   * boots again. The Uno bootloader's own delay is not simulated. Refused while `off`.
   */
  reset(): void {
    if (this.st === 'off') throw new Error(`FirmataBoardSim ${this.name}: reset() refused in state 'off'`);
    const t = hrtime();
    this.flushTx(t);
    this.halt();
    this.record(t, 'reset', {});
    this.boot(t);
  }

  /** Resolves when the firmware has booted (now, if it is running). Rejects if it is or gets powered off first. */
  whenRunning(): Promise<void> {
    if (this.st === 'running') return Promise.resolve();
    if (this.st === 'off') {
      return Promise.reject(new Error(`FirmataBoardSim ${this.name}: whenRunning() refused in state 'off'`));
    }
    return new Promise((resolve, reject) => this.bootWaiters.push({ resolve, reject }));
  }

  /** Bytes from the host (the PTY's `data`). Ignored while `off`. */
  receive(bytes: Uint8Array): void {
    if (this.st === 'off' || bytes.length === 0) return;
    const now = hrtime();
    for (const b of bytes) this.rx.push({ b, t: this.rxLine.push(now) });
    this.arm(now);
  }

  /** Time of the earliest received byte the firmware has not handled yet (its pin changes come no earlier). */
  get pendingRxNs(): bigint | undefined {
    return this.rx[0]?.t;
  }

  /** Subscribe to pin changes. Returns the unsubscribe function. */
  onPinChange(listener: PinChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Drive a pin from outside (a button, another device). `null` releases it: an input then reads
   * 1 with the pull-up on and 0 without (a floating pin is read as 0). The firmware sees the new
   * level on its next loop pass and reports it if the pin's port is reported.
   */
  setInput(pin: number, level: PinLevel): void {
    this.checkPin('setInput', pin);
    if (level !== 0 && level !== 1 && level !== null) {
      throw new RangeError(`FirmataBoardSim ${this.name}: setInput level must be 0, 1 or null, got ${String(level)}`);
    }
    const now = hrtime();
    this.ext[pin] = level;
    this.record(now, 'input', { pin, level });
    if (this.st !== 'running') return;
    if (this.inputCheckAt === undefined) this.inputCheckAt = now;
    this.pump();
  }

  /** Set the value an analog channel (0–5, pin 14–19) reads, 0–1023. Default 0. */
  setAnalog(channel: number, value: number): void {
    if (!Number.isInteger(channel) || channel < 0 || channel >= UNO.TOTAL_ANALOG_PINS) {
      throw new RangeError(`FirmataBoardSim ${this.name}: analog channel must be 0-5, got ${String(channel)}`);
    }
    if (!Number.isInteger(value) || value < 0 || value > 1023) {
      throw new RangeError(`FirmataBoardSim ${this.name}: analog value must be an integer 0-1023, got ${String(value)}`);
    }
    this.analogIn[channel] = value;
  }

  /** What the pin drives right now (see {@link PinChangeListener}). */
  levelOf(pin: number): PinLevel {
    this.checkPin('levelOf', pin);
    return this.levelNow(pin);
  }

  /** The pin's mode right now (see {@link PinChangeListener}). */
  modeOf(pin: number): PinModeName {
    this.checkPin('modeOf', pin);
    return this.modeNow(pin);
  }

  // ---------------------------------------------------------------- scheduling

  private boot(t0: bigint): void {
    this.st = 'booting';
    this.initFirmwareGlobals();
    this.cpuAt = t0;
    this.syncPins(t0);
    const steps: Work[] = [];
    let end = t0;
    if (this.bootBlinkMs > 0) {
      const [major, minor] = this.version;
      const fullMs = (major + minor) * (BLINK_OFF_MS + BLINK_ON_MS) + BLINK_GAP_MS + BLINK_TAIL_MS;
      const scale = this.bootBlinkMs / fullMs;
      const at = (ms: number): bigint => t0 + BigInt(Math.round(ms * scale * 1e6));
      const pin = UNO.VERSION_BLINK_PIN;
      let ms = 0;
      steps.push({ t: t0, run: () => this.avrPinMode(pin, 'OUTPUT') });
      const strobe = (count: number): void => {
        for (let i = 0; i < count; i++) {
          ms += BLINK_OFF_MS;
          steps.push({ t: at(ms), run: () => this.avrDigitalWrite(pin, 1) });
          ms += BLINK_ON_MS;
          steps.push({ t: at(ms), run: () => this.avrDigitalWrite(pin, 0) });
        }
      };
      strobe(major);
      ms += BLINK_GAP_MS;
      strobe(minor);
      ms += BLINK_TAIL_MS;
      end = at(ms);
    }
    steps.push({ t: end, run: () => this.finishBoot() });
    this.bootSteps = steps;
    this.pump();
  }

  private finishBoot(): void {
    // Firmata.begin(): printVersion(), printFirmwareVersion(); then setup() calls systemResetCallback().
    this.printVersion();
    this.printFirmwareVersion();
    this.configured = true;
    this.systemResetCallback();
    this.st = 'running';
    this.record(this.cpuAt, 'boot', {});
    const waiters = this.bootWaiters;
    this.bootWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Stop everything the MCU was doing: queues, timers, pin drivers. */
  private halt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.rx = [];
    this.tx = [];
    this.bootSteps = [];
    this.inputCheckAt = undefined;
    this.nextAnalogAt = undefined;
    this.rxLine.clear();
    this.txLine.clear();
    this.parser.reset();
    this.ddr.fill(false);
    this.out.fill(false);
    this.duty.fill(null);
    this.configured = false;
  }

  private initFirmwareGlobals(): void {
    this.pinConfig.fill(0);
    this.pinState.fill(0);
    this.servoAttached.fill(false);
    this.reportPINs.fill(0);
    this.previousPINs.fill(0);
    this.portConfigInputs.fill(0);
    this.analogInputsToReport = 0;
    this.samplingIntervalMs = DEFAULT_SAMPLING_INTERVAL_MS;
    this.isResetting = false;
    this.configured = false;
    this.parser.reset();
  }

  /** The earliest thing the firmware has to do, if any. */
  private nextWork(): Work | undefined {
    let best: Work | undefined;
    const consider = (t: bigint, run: () => void): void => {
      if (best === undefined || t < best.t) best = { t, run };
    };
    const step = this.bootSteps[0];
    if (step) {
      consider(step.t, () => {
        this.bootSteps.shift();
        step.run();
      });
    }
    if (this.st === 'running') {
      const first = this.rx[0];
      if (first) consider(maxT(first.t, this.cpuAt) + BYTE_CPU_NS, () => this.consumeByte());
      if (this.inputCheckAt !== undefined) {
        consider(maxT(this.inputCheckAt, this.cpuAt), () => {
          this.inputCheckAt = undefined;
          this.checkDigitalInputs();
        });
      }
      if (this.nextAnalogAt !== undefined) consider(maxT(this.nextAnalogAt, this.cpuAt), () => this.analogTick());
    }
    return best;
  }

  /** Do everything that is due, release due output, and set one timer for what comes next. */
  private readonly pump = (): void => {
    // Also called directly (setInput, boot): drop the armed timer, arm() sets a new one.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = hrtime();
    try {
      for (;;) {
        const w = this.nextWork();
        if (w === undefined || w.t > now) break;
        this.cpuAt = maxT(this.cpuAt, w.t);
        const t = this.cpuAt;
        w.run();
        // Pins are compared once per unit of work: sub-microsecond glitches inside one firmware
        // callback (e.g. OUTPUT then analogWrite(0) when entering PWM) are not reported.
        this.syncPins(t);
      }
    } finally {
      // A throwing pin listener must not leave the board without a timer.
      this.flushTx(now);
      this.arm(now);
    }
  };

  private arm(now: bigint): void {
    let next = this.nextWork()?.t;
    const txFirst = this.tx[0];
    if (txFirst && (next === undefined || txFirst.t < next)) next = txFirst.t;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (next === undefined) return;
    const delayMs = next <= now ? 0 : Number((next - now + NS_PER_MS - 1n) / NS_PER_MS);
    this.timer = setTimeout(this.pump, delayMs);
  }

  private flushTx(now: bigint): void {
    let n = 0;
    while (n < this.tx.length && (this.tx[n] as TimedByte).t <= now) n++;
    if (n === 0) return;
    const due = this.tx.splice(0, n);
    this.sendBytes(Buffer.from(due.map((x) => x.b)));
  }

  private consumeByte(): void {
    const next = this.rx.shift();
    if (next === undefined) return;
    this.parser.parse(next.b);
    // The firmware's loop() checks the digital inputs between reads.
    this.checkDigitalInputs();
  }

  private analogTick(): void {
    if (this.analogInputsToReport === 0) {
      this.nextAnalogAt = undefined;
      return;
    }
    for (let pin = 0; pin < UNO.TOTAL_PINS; pin++) {
      if (UNO.isAnalog(pin) && this.pinConfig[pin] === PIN_MODE.ANALOG) {
        const a = UNO.pinToAnalog(pin);
        if (this.analogInputsToReport & (1 << a)) this.sendAnalog(a, this.analogIn[a] ?? 0);
      }
    }
    const next = (this.nextAnalogAt ?? this.cpuAt) + BigInt(this.samplingIntervalMs) * NS_PER_MS;
    this.nextAnalogAt = next > this.cpuAt ? next : this.cpuAt;
  }

  // ---------------------------------------------------------------- firmware output

  /** Serial.write of each byte at the firmware's current time, blocking while the TX ring is full. */
  private writeBytes(bytes: readonly number[]): void {
    for (const b of bytes) {
      const ringFreeAt = this.txLine.busyUntil - TX_RING_BYTES * this.txLine.byteNs;
      if (this.cpuAt < ringFreeAt) this.cpuAt = ringFreeAt;
      this.tx.push({ b: b & 0xff, t: this.txLine.push(this.cpuAt) });
    }
  }

  private printVersion(): void {
    this.writeBytes([CMD.REPORT_VERSION, this.version[0], this.version[1]]);
  }

  private printFirmwareVersion(): void {
    const name = Buffer.from(this.firmwareName, 'latin1');
    this.writeBytes([CMD.START_SYSEX, SYSEX.REPORT_FIRMWARE, this.version[0], this.version[1], ...encode7(name), CMD.END_SYSEX]);
  }

  private sendDigitalPort(port: number, value: number): void {
    this.writeBytes([CMD.DIGITAL_MESSAGE | (port & 0x0f), value & 0x7f, (value >> 7) & 0x7f]);
  }

  private sendAnalog(analogPin: number, value: number): void {
    // FirmataMarshaller::sendAnalog only sends pins 0-15 and 14-bit values.
    if (analogPin > 15 || value > 0x3fff) return;
    this.writeBytes([CMD.ANALOG_MESSAGE | analogPin, value & 0x7f, (value >> 7) & 0x7f]);
  }

  private sendString(s: string): void {
    this.writeBytes([CMD.START_SYSEX, SYSEX.STRING_DATA, ...encode7(Buffer.from(s, 'latin1')), CMD.END_SYSEX]);
  }

  // ---------------------------------------------------------------- AVR / Arduino core

  private avrPinMode(pin: number, mode: 'INPUT' | 'INPUT_PULLUP' | 'OUTPUT'): void {
    // wiring_digital.c: INPUT clears the pull-up, INPUT_PULLUP sets it, OUTPUT only sets DDR and
    // keeps whatever the PORT bit holds.
    if (mode === 'OUTPUT') {
      this.ddr[pin] = true;
    } else {
      this.ddr[pin] = false;
      this.out[pin] = mode === 'INPUT_PULLUP';
    }
  }

  private avrDigitalWrite(pin: number, value: number): void {
    this.duty[pin] = null; // turnOffPWM()
    this.out[pin] = (value & 0xff) !== 0;
  }

  private avrAnalogWrite(pin: number, value: number): void {
    this.avrPinMode(pin, 'OUTPUT');
    if (value <= 0) this.avrDigitalWrite(pin, 0);
    else if (value >= 255) this.avrDigitalWrite(pin, 1);
    else this.duty[pin] = value;
  }

  /** Boards.h writePort() for the 328P: direct PORT register writes, never touching RX/TX. */
  private avrWritePort(port: number, value: number, bitmask: number): void {
    let mask = bitmask;
    if (port === 0) mask &= 0xfc;
    if (port === 2) mask &= 0x0f;
    for (let i = 0; i < 8; i++) {
      const pin = port * 8 + i;
      if (pin < UNO.TOTAL_PINS && mask & (1 << i)) this.out[pin] = (value & (1 << i)) !== 0;
    }
  }

  /** Boards.h readPort(): the PIN registers, masked; pins 0-1 always read 0. */
  private avrReadPort(port: number, bitmask: number): number {
    let v = 0;
    for (let i = 0; i < 8; i++) {
      const pin = port * 8 + i;
      if (pin < 2 || pin >= UNO.TOTAL_PINS) continue;
      if (this.readPin(pin)) v |= 1 << i;
    }
    return v & bitmask;
  }

  private readPin(pin: number): 0 | 1 {
    if (this.ddr[pin]) return this.out[pin] ? 1 : 0;
    const ext = this.ext[pin];
    if (ext !== null && ext !== undefined) return ext;
    return this.out[pin] ? 1 : 0; // pull-up on: reads 1; floating: taken as 0
  }

  // ---------------------------------------------------------------- StandardFirmata callbacks

  private firmwareHandlers(): FirmataHandlers {
    return {
      analogWrite: (pin, value) => this.analogWriteCallback(pin, value),
      digitalWrite: (port, value) => this.digitalWriteCallback(port, value),
      reportAnalog: (pin, value) => this.reportAnalogCallback(pin, value),
      reportDigital: (port, value) => this.reportDigitalCallback(port, value),
      setPinMode: (pin, mode) => this.setPinModeCallback(pin, mode),
      setPinValue: (pin, value) => this.setPinValueCallback(pin, value),
      sysex: (command, argv) => this.sysexCallback(command, argv),
      reportFirmware: () => this.printFirmwareVersion(),
      reportVersion: () => this.printVersion(),
      systemReset: () => {
        this.systemResetCallback();
        this.record(this.cpuAt, 'fw_reset', {});
      },
    };
  }

  private outputPort(port: number, value: number, force: boolean): void {
    const v = value & (this.portConfigInputs[port] ?? 0);
    if (force || this.previousPINs[port] !== v) {
      this.sendDigitalPort(port, v);
      this.previousPINs[port] = v;
    }
  }

  private checkDigitalInputs(): void {
    for (let port = 0; port < UNO.TOTAL_PORTS; port++) {
      if (this.reportPINs[port]) this.outputPort(port, this.avrReadPort(port, this.portConfigInputs[port] ?? 0), false);
    }
  }

  private setPinModeCallback(pin: number, mode: number): void {
    // The firmware does not bounds-check here (it indexes past its tables); ignore such pins.
    if (pin >= UNO.TOTAL_PINS) return;
    if (this.pinConfig[pin] === PIN_MODE.IGNORE) return;
    if (UNO.isDigital(pin) && mode !== PIN_MODE.SERVO && this.servoAttached[pin]) this.servoAttached[pin] = false;
    if (UNO.isAnalog(pin)) this.reportAnalogCallback(UNO.pinToAnalog(pin), mode === PIN_MODE.ANALOG ? 1 : 0);
    if (UNO.isDigital(pin)) {
      const port = pin >> 3;
      const bit = 1 << (pin & 7);
      const cur = this.portConfigInputs[port] ?? 0;
      this.portConfigInputs[port] = mode === PIN_MODE.INPUT || mode === PIN_MODE.PULLUP ? cur | bit : cur & ~bit;
    }
    this.pinState[pin] = 0;
    switch (mode) {
      case PIN_MODE.ANALOG:
        if (UNO.isAnalog(pin)) {
          this.pinConfig[pin] = PIN_MODE.ANALOG;
          if (UNO.isDigital(pin)) this.avrPinMode(pin, 'INPUT');
        }
        break;
      case PIN_MODE.INPUT:
        if (UNO.isDigital(pin)) {
          this.avrPinMode(pin, 'INPUT');
          this.pinConfig[pin] = PIN_MODE.INPUT;
        }
        break;
      case PIN_MODE.PULLUP:
        if (UNO.isDigital(pin)) {
          this.avrPinMode(pin, 'INPUT_PULLUP');
          this.pinConfig[pin] = PIN_MODE.PULLUP;
          this.pinState[pin] = 1;
        }
        break;
      case PIN_MODE.OUTPUT:
        if (UNO.isDigital(pin)) {
          if (this.pinConfig[pin] === PIN_MODE.PWM) this.avrDigitalWrite(pin, 0);
          this.pinConfig[pin] = PIN_MODE.OUTPUT;
          this.avrPinMode(pin, 'OUTPUT');
        }
        break;
      case PIN_MODE.PWM:
        if (UNO.isPwm(pin)) {
          this.pinConfig[pin] = PIN_MODE.PWM;
          this.avrPinMode(pin, 'OUTPUT');
          this.avrAnalogWrite(pin, 0);
        }
        break;
      case PIN_MODE.SERVO:
        if (UNO.isDigital(pin)) {
          this.pinConfig[pin] = PIN_MODE.SERVO;
          if (!this.servoAttached[pin]) {
            // Servo::attach() makes the pin an output; its pulse train is not simulated.
            this.servoAttached[pin] = true;
            this.avrPinMode(pin, 'OUTPUT');
          }
        }
        break;
      case PIN_MODE.I2C:
        if (UNO.isI2c(pin)) this.pinConfig[pin] = PIN_MODE.I2C;
        break;
      case PIN_MODE.SERIAL:
        // Only handled when FIRMATA_SERIAL_FEATURE is compiled in, which StandardFirmata on an Uno is not.
        break;
      default:
        this.sendString('Unknown pin mode');
    }
  }

  private setPinValueCallback(pin: number, value: number): void {
    if (pin < UNO.TOTAL_PINS && UNO.isDigital(pin) && this.pinConfig[pin] === PIN_MODE.OUTPUT) {
      this.pinState[pin] = value;
      this.avrDigitalWrite(pin, value);
    }
  }

  private analogWriteCallback(pin: number, value: number): void {
    if (pin >= UNO.TOTAL_PINS) return;
    switch (this.pinConfig[pin]) {
      case PIN_MODE.SERVO:
        this.pinState[pin] = value;
        break;
      case PIN_MODE.PWM:
        if (UNO.isPwm(pin)) this.avrAnalogWrite(pin, value);
        this.pinState[pin] = value;
        break;
    }
  }

  private digitalWriteCallback(port: number, value: number): void {
    if (port >= UNO.TOTAL_PORTS) return;
    let mask = 1;
    let writeMask = 0;
    const last = Math.min(port * 8 + 8, UNO.TOTAL_PINS);
    for (let pin = port * 8; pin < last; pin++) {
      if (UNO.isDigital(pin)) {
        const mode = this.pinConfig[pin];
        if (mode === PIN_MODE.OUTPUT || mode === PIN_MODE.INPUT) {
          const v = value & 0xff & mask ? 1 : 0;
          if (mode === PIN_MODE.OUTPUT) {
            writeMask |= mask;
          } else if (v === 1 && this.pinState[pin] !== 1) {
            // Writing 1 to an INPUT enables its pull-up (writing 0 later does not disable it).
            this.avrPinMode(pin, 'INPUT_PULLUP');
          }
          this.pinState[pin] = v;
        }
      }
      mask <<= 1;
    }
    this.avrWritePort(port, value & 0xff, writeMask);
  }

  private reportAnalogCallback(analogPin: number, value: number): void {
    if (analogPin >= UNO.TOTAL_ANALOG_PINS) return;
    if (value === 0) {
      this.analogInputsToReport &= ~(1 << analogPin);
      return;
    }
    this.analogInputsToReport |= 1 << analogPin;
    // Sent at once, except during SYSTEM_RESET.
    if (!this.isResetting) this.sendAnalog(analogPin, this.analogIn[analogPin] ?? 0);
    if (this.nextAnalogAt === undefined) this.nextAnalogAt = this.cpuAt + BigInt(this.samplingIntervalMs) * NS_PER_MS;
  }

  private reportDigitalCallback(port: number, value: number): void {
    if (port >= UNO.TOTAL_PORTS) return;
    this.reportPINs[port] = value & 0xff;
    if (value) this.outputPort(port, this.avrReadPort(port, this.portConfigInputs[port] ?? 0), true);
  }

  private sysexCallback(command: number, argv: number[]): void {
    const argc = argv.length;
    const a = (i: number): number => argv[i] ?? 0;
    switch (command) {
      case SYSEX.SERVO_CONFIG:
        if (argc > 4 && UNO.isDigital(a(0))) {
          this.servoAttached[a(0)] = false; // detach, then attach with the new pulse limits
          this.setPinModeCallback(a(0), PIN_MODE.SERVO);
        }
        break;
      case SYSEX.SAMPLING_INTERVAL:
        if (argc > 1) this.samplingIntervalMs = Math.max(a(0) + (a(1) << 7), MINIMUM_SAMPLING_INTERVAL_MS);
        break;
      case SYSEX.EXTENDED_ANALOG:
        if (argc > 1) {
          let val = a(1);
          if (argc > 2) val |= a(2) << 7;
          if (argc > 3) val |= a(3) << 14;
          this.analogWriteCallback(a(0), val);
        }
        break;
      case SYSEX.CAPABILITY_QUERY:
        this.writeBytes(this.capabilityResponse());
        break;
      case SYSEX.PIN_STATE_QUERY:
        if (argc > 0) this.writeBytes(this.pinStateResponse(a(0)));
        break;
      case SYSEX.ANALOG_MAPPING_QUERY: {
        const map: number[] = [];
        for (let pin = 0; pin < UNO.TOTAL_PINS; pin++) map.push(UNO.isAnalog(pin) ? UNO.pinToAnalog(pin) : 127);
        this.writeBytes([CMD.START_SYSEX, SYSEX.ANALOG_MAPPING_RESPONSE, ...map, CMD.END_SYSEX]);
        break;
      }
      default:
        // I2C_REQUEST / I2C_CONFIG (no I2C bus here), SERIAL_MESSAGE (not compiled in) and
        // anything unknown: no reply, as the firmware does for unknown commands.
        break;
    }
  }

  private capabilityResponse(): number[] {
    const r: number[] = [CMD.START_SYSEX, SYSEX.CAPABILITY_RESPONSE];
    for (let pin = 0; pin < UNO.TOTAL_PINS; pin++) {
      if (UNO.isDigital(pin)) r.push(PIN_MODE.INPUT, 1, PIN_MODE.PULLUP, 1, PIN_MODE.OUTPUT, 1);
      if (UNO.isAnalog(pin)) r.push(PIN_MODE.ANALOG, 10);
      if (UNO.isPwm(pin)) r.push(PIN_MODE.PWM, UNO.PWM_RESOLUTION);
      if (UNO.isDigital(pin)) r.push(PIN_MODE.SERVO, 14);
      if (UNO.isI2c(pin)) r.push(PIN_MODE.I2C, 1);
      r.push(127);
    }
    r.push(CMD.END_SYSEX);
    return r;
  }

  private pinStateResponse(pin: number): number[] {
    const r: number[] = [CMD.START_SYSEX, SYSEX.PIN_STATE_RESPONSE, pin];
    if (pin < UNO.TOTAL_PINS) {
      const state = (this.pinState[pin] ?? 0) & 0xffff;
      r.push(this.pinConfig[pin] ?? 0, state & 0x7f);
      if (state & 0xff80) r.push((state >> 7) & 0x7f);
      if (state & 0xc000) r.push((state >> 14) & 0x7f);
    }
    r.push(CMD.END_SYSEX);
    return r;
  }

  private systemResetCallback(): void {
    this.isResetting = true;
    this.reportPINs.fill(0);
    this.portConfigInputs.fill(0);
    this.previousPINs.fill(0);
    for (let pin = 0; pin < UNO.TOTAL_PINS; pin++) {
      // Analog-capable pins become analog inputs, other digital pins outputs. OUTPUT keeps the PORT
      // bit, so a pin that had its pull-up on (or was driven HIGH) comes out driving HIGH.
      if (UNO.isAnalog(pin)) this.setPinModeCallback(pin, PIN_MODE.ANALOG);
      else if (UNO.isDigital(pin)) this.setPinModeCallback(pin, PIN_MODE.OUTPUT);
      this.servoAttached[pin] = false;
    }
    this.analogInputsToReport = 0;
    this.isResetting = false;
  }

  // ---------------------------------------------------------------- observation

  private levelNow(pin: number): PinLevel {
    if (this.st === 'off' || !this.ddr[pin]) return null;
    if (this.duty[pin] !== null) return 1;
    return this.out[pin] ? 1 : 0;
  }

  private modeNow(pin: number): PinModeName {
    if (this.st === 'off') return 'OFF';
    if (this.configured) return modeName(this.pinConfig[pin] ?? 0);
    return this.ddr[pin] ? 'OUTPUT' : 'INPUT';
  }

  private syncPins(t: bigint): void {
    for (let pin = 2; pin < UNO.TOTAL_PINS; pin++) {
      const level = this.levelNow(pin);
      const mode = this.modeNow(pin);
      const d = this.st !== 'off' && this.ddr[pin] ? (this.duty[pin] ?? null) : null;
      const r = this.reported[pin] as Reported;
      if (r.level === level && r.mode === mode && r.duty === d) continue;
      r.level = level;
      r.mode = mode;
      r.duty = d;
      const duty = d === null ? undefined : d / 255;
      this.record(t, 'pin', duty === undefined ? { pin, level, mode } : { pin, level, mode, duty });
      for (const l of this.listeners) l(pin, level, mode, t, duty);
    }
  }

  private record(t: bigint, kind: string, fields: Record<string, unknown>): void {
    this.truth?.record({ ...fields, t, src: this.name, kind });
  }

  private checkPin(what: string, pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= UNO.TOTAL_PINS) {
      throw new RangeError(`FirmataBoardSim ${this.name}: ${what} pin must be an integer 0-19, got ${String(pin)}`);
    }
  }
}
