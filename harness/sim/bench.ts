import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConsoleLink, CONSOLE_LINKS, type ConsoleLinkKind } from './console-link.ts';
import { DutProcess } from './dut-process.ts';
import { simDeviceLinks } from './links.ts';
import { EspFirmware, ESP_FAULTS, type EspFault } from './esp/index.ts';
import { FirmataBoardSim } from './firmata/board.ts';
import { ModbusRelaySlave } from './modbus/slave.ts';
import { GroundTruthLog } from './ground-truth.ts';
import { PANEL_FAULTS, PANEL_INSTRUMENTATION, PanelFirmware, type PanelFault, type PanelInstrumentation } from './panel/index.ts';
import { PtyPair } from './pty.ts';
import { CommandSpacingAudit, type ShortCommand } from './command-audit.ts';
import { RelayModule, mulberry32, type Prng } from './relay.ts';
import { SupplyRail, UartLink, planBench, type BenchPlan, type PlannedChannel, type PoweredDevice, type SimWiring } from './wiring.ts';

/** Every fault the sim can inject: the panel's, then the ESP's. */
export const SIM_FAULTS: ReadonlyArray<PanelFault | EspFault> = [...PANEL_FAULTS, ...ESP_FAULTS];
export type SimFault = PanelFault | EspFault;

/** Options of {@link SimBench}. */
export interface SimBenchOptions {
  /** Broken firmware variant (see `panel/faults.ts`, `esp/faults.ts`). Default: none. */
  fault?: SimFault;
  /** Seeds relay timing, device clocks and firmware jitter. Default 1. */
  seed?: number;
  /**
   * Instrumentation variants of the simulated panel (`racy-q-put`, `raw-edges`; see
   * `panel/faults.ts`): healthy firmware whose lines reach the wire in orders real firmware
   * produces. Default: none.
   */
  instrumentation?: readonly PanelInstrumentation[];
  /**
   * Ground-truth JSON-lines file (appended). Default: `hil-sim-<pid>-<ms>.truth.jsonl` in the OS
   * temp folder (kept after the run: it is the evidence).
   */
  groundTruthPath?: string;
  /** Run this shell command as the Pi instead of the built-in firmware (see {@link DutProcess}). Default: none. */
  dutCmd?: string;
  /** Send the `dutCmd` program each GPIO change with its contact time (see {@link DutProcessOptions.edgeTimes}). Default false. */
  dutEdgeTimes?: boolean;
  /**
   * Run this shell command as the ESP instead of the built-in firmware: it gets `HIL_HTTP_PORT`
   * (and `HIL_HTTP_HOST`) for its web server, the Pi's UART lines on stdin, and its stdout and
   * stderr are the ESP's console (see {@link DutProcess}). Default: none.
   */
  espCmd?: string;
  /**
   * The device supplies come up this long after {@link SimBench.start}, ms, so a host that opens
   * the consoles right after reading the description sees the devices boot. Default 250.
   */
  devicePowerDelayMs?: number;
  /** StandardFirmata boot blink of the relay boards, ms. Default 150. */
  boardBootBlinkMs?: number;
  /**
   * How the device consoles' bytes reach their PTYs (see console-link.ts): `direct`, a 115200-baud
   * `uart`, or `usb-ftdi` (a USB-serial adapter delivering chunks 1–16 ms late). Default `direct`.
   */
  consoleLink?: ConsoleLinkKind;
  /** Diagnostics (never the device consoles). Default: stderr. */
  log?: (msg: string) => void;
  /**
   * Presses the bench performed shorter than the harness can have commanded them (see
   * command-audit.ts); the sim process prints them for the harness. Default: only the ground truth.
   */
  onShortCommand?: (s: ShortCommand) => void;
}

/** What the sim prints as its one JSON line, and {@link SimBench.describe} returns. */
export interface SimBenchDescription {
  /** Process id of the sim. */
  pid: number;
  /** Sim port name (`relays-a`, `relays-b`, `pi`, `esp`) → PTY path to open with serialport. */
  ports: Record<string, string>;
  /** HTTP servers by sim name (`esp`) → base URL. */
  http: Record<string, string>;
  /** Ground-truth file. */
  groundTruth: string;
  fault: SimFault | null;
  /** Panel instrumentation variants in use (empty: none). */
  instrumentation: PanelInstrumentation[];
  seed: number;
  /** How the device consoles reach their PTYs. */
  consoleLink: ConsoleLinkKind;
}

/** `idle` → `running` (start) → `stopping` → `stopped`. */
export type SimBenchState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

interface Pi {
  device: PoweredDevice;
  deliverGpio(bcm: number, level: 0 | 1, tNs: bigint): void;
}

const nowNs = (): bigint => process.hrtime.bigint();

/** What the bench needs of a relay board behind a PTY: a StandardFirmata Uno or a Modbus relay module. */
interface SimRelayBoard {
  readonly name: string;
  receive(bytes: Uint8Array): void;
  powerOn(): void;
  powerOff(): void;
  reset(): void;
  readonly pendingRxNs: bigint | undefined;
  onPinChange(listener: (pin: number, level: 0 | 1 | null, mode: string, tNs: bigint) => void): () => void;
}

/**
 * The whole simulated bench in this process, built from a rig definition: one PTY per relay
 * board and per device console, a StandardFirmata board sim behind each board PTY (a Modbus RTU
 * relay-module slave for a `modbus-rtu` board), a relay module on each board, button contacts
 * wired to the Pi's GPIO (closed = 0), supply contacts (NO/NC as the rig says) to the Pi's and the
 * ESP's power, and the Pi's UART to the ESP at 115200 baud.
 *
 * Everything that happens is recorded in the ground truth: relay coil changes and contact
 * make/break/bounce (`src: '<board>:<label>'`), board pins (`src: '<board>'`), every GPIO level the
 * Pi's inputs take (`src: 'gpio:pi', kind: 'gpio'`), supply changes (`src: 'power:<device>'`) and the
 * devices' own events (`src: 'pi' | 'esp'`).
 *
 * The harness never uses this class directly: it starts `main.ts` as a process through
 * `startSimBench` (sim-process.ts) and talks to it only through the PTYs and HTTP.
 */
export class SimBench {
  private st: SimBenchState = 'idle';
  private readonly opts: Required<Omit<SimBenchOptions, 'fault' | 'dutCmd' | 'espCmd' | 'dutEdgeTimes' | 'onShortCommand'>> & Pick<SimBenchOptions, 'fault' | 'dutCmd' | 'espCmd' | 'dutEdgeTimes' | 'onShortCommand'>;
  private readonly plan: BenchPlan;
  private readonly rng: Prng;
  private truth: GroundTruthLog | undefined;
  private readonly ptys = new Map<string, PtyPair>();
  private readonly boards: SimRelayBoard[] = [];
  private readonly modules: RelayModule[] = [];
  private readonly rails = new Map<string, SupplyRail>();
  private readonly alwaysOn: PoweredDevice[] = [];
  private readonly links: UartLink[] = [];
  private readonly consoles: ConsoleLink[] = [];
  private readonly http: Record<string, string> = {};
  private readonly lineLevels = new Map<number, { level: 0 | 1; since: bigint }>();
  private powerTimer: NodeJS.Timeout | undefined;
  private supplyUp = false;
  private pi: Pi | undefined;

  constructor(
    private readonly rig: SimWiring,
    options: SimBenchOptions = {},
  ) {
    const seed = options.seed ?? 1;
    if (!Number.isSafeInteger(seed)) throw new RangeError(`SimBench: options.seed must be an integer, got ${String(seed)}`);
    if (options.fault !== undefined && !SIM_FAULTS.includes(options.fault)) {
      throw new RangeError(`SimBench: options.fault must be one of ${SIM_FAULTS.join(', ')}; got ${JSON.stringify(options.fault)}`);
    }
    for (const i of options.instrumentation ?? []) {
      if (!PANEL_INSTRUMENTATION.includes(i)) throw new RangeError(`SimBench: options.instrumentation must list some of ${PANEL_INSTRUMENTATION.join(', ')}; got ${JSON.stringify(i)}`);
    }
    if (options.consoleLink !== undefined && !CONSOLE_LINKS.includes(options.consoleLink)) {
      throw new RangeError(`SimBench: options.consoleLink must be one of ${CONSOLE_LINKS.join(', ')}; got ${JSON.stringify(options.consoleLink)}`);
    }
    const delay = options.devicePowerDelayMs ?? 250;
    if (!(delay >= 0)) throw new RangeError(`SimBench: options.devicePowerDelayMs must be >= 0, got ${String(delay)}`);
    this.opts = {
      fault: options.fault,
      seed,
      instrumentation: [...new Set(options.instrumentation ?? [])],
      groundTruthPath: options.groundTruthPath ?? path.join(os.tmpdir(), `hil-sim-${process.pid}-${Date.now()}.truth.jsonl`),
      dutCmd: options.dutCmd,
      dutEdgeTimes: options.dutEdgeTimes,
      espCmd: options.espCmd,
      devicePowerDelayMs: delay,
      boardBootBlinkMs: options.boardBootBlinkMs ?? 150,
      consoleLink: options.consoleLink ?? 'direct',
      log: options.log ?? ((m) => process.stderr.write(`[sim] ${m}\n`)),
      onShortCommand: options.onShortCommand,
    };
    this.plan = planBench(rig);
    const models = new Set(this.plan.devices.map((d) => d.port));
    const fault = this.opts.fault;
    if (fault !== undefined && (PANEL_FAULTS as readonly string[]).includes(fault)) {
      if (!models.has('pi')) throw new Error(`SimBench: fault "${fault}" is a panel fault but rig "${rig.name}" has no pi device`);
      if (this.opts.dutCmd) throw new Error(`SimBench: fault "${fault}" is a panel-firmware fault; it cannot apply to an external DUT (--dut-cmd)`);
    }
    if (this.opts.instrumentation.length > 0 && (this.opts.dutCmd || !models.has('pi'))) {
      throw new Error(`SimBench: instrumentation ${this.opts.instrumentation.join(',')} applies to the simulated panel firmware; ${this.opts.dutCmd ? 'an external DUT (--dut-cmd) plays the Pi' : `rig "${rig.name}" has no pi device`}`);
    }
    if (fault !== undefined && (ESP_FAULTS as readonly string[]).includes(fault) && !models.has('esp')) {
      throw new Error(`SimBench: fault "${fault}" is an ESP fault but rig "${rig.name}" has no esp device`);
    }
    if (fault !== undefined && (ESP_FAULTS as readonly string[]).includes(fault) && this.opts.espCmd) {
      throw new Error(`SimBench: fault "${fault}" is an ESP-firmware fault; it cannot apply to an external ESP (--esp-cmd)`);
    }
    if (this.opts.espCmd !== undefined && !models.has('esp')) {
      throw new Error(`SimBench: --esp-cmd was given but rig "${rig.name}" has no esp device (sim port "esp")`);
    }
    this.rng = mulberry32(seed);
    // Inputs are pulled up: every wired line reads 1 until a contact closes.
    for (const gpio of Object.values(this.plan.piGpio)) this.lineLevels.set(gpio, { level: 1, since: 0n });
  }

  get state(): SimBenchState {
    return this.st;
  }

  /**
   * Build the bench: PTYs, boards (powered, booting), relay modules and devices. Resolves as soon
   * as every PTY exists (a few ms); the devices' supplies come up `devicePowerDelayMs` later and
   * they boot in the background. Refused unless `idle`.
   */
  async start(): Promise<void> {
    if (this.st !== 'idle') throw new Error(`SimBench.start: refused in state '${this.st}'`);
    this.st = 'starting';
    try {
      await this.build();
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.st = 'running';
  }

  /** The description the sim prints (see {@link SimBenchDescription}). Refused before {@link start}. */
  describe(): SimBenchDescription {
    if (this.st !== 'running' && this.st !== 'stopping') throw new Error(`SimBench.describe: refused in state '${this.st}'`);
    return {
      pid: process.pid,
      ports: Object.fromEntries([...this.ptys].map(([name, p]) => [name, p.path])),
      http: { ...this.http },
      groundTruth: this.opts.groundTruthPath,
      fault: this.opts.fault ?? null,
      instrumentation: [...this.opts.instrumentation],
      seed: this.opts.seed,
      consoleLink: this.opts.consoleLink,
    };
  }

  /**
   * Reset one relay board as its reset line would (a supply dip, the reset button): its pins
   * float, the firmware boots again and drives them to its boot state. The host sees a fresh
   * version report on the same port.
   */
  resetBoard(name: string): void {
    if (this.st !== 'running') throw new Error(`SimBench.resetBoard: refused in state '${this.st}'`);
    const b = this.boards.find((x) => x.name === name);
    if (!b) throw new Error(`no board ${JSON.stringify(name)} on the simulated bench (it has: ${this.boards.map((x) => x.name).join(', ')})`);
    b.reset();
  }

  /**
   * Shut everything down: relay timers, boards, device workers/processes, PTYs, the ground truth.
   * Afterwards nothing of the bench keeps the event loop alive. Safe to call in any state, twice.
   */
  async stop(): Promise<void> {
    if (this.st === 'stopped' || this.st === 'stopping') return;
    this.st = 'stopping';
    if (this.powerTimer) clearTimeout(this.powerTimer);
    this.powerTimer = undefined;
    // Boards first: their pins float, which releases the coils; then drop what the relays still had pending.
    for (const b of this.boards) b.powerOff();
    for (const m of this.modules) m.dispose();
    for (const l of this.links) l.close();
    for (const c of this.consoles) c.close();
    const downs = [...this.rails.values()].map((r) => r.shutdown());
    for (const d of this.alwaysOn) downs.push(d.powerOff());
    const results = await Promise.allSettled(downs);
    for (const r of results) if (r.status === 'rejected') this.opts.log(`shutdown: ${String(r.reason)}`);
    for (const p of this.ptys.values()) p.close();
    this.truth?.record({ t: nowNs(), src: 'bench', kind: 'stop' });
    this.truth?.close();
    this.truth = undefined;
    this.st = 'stopped';
  }

  // ---------------------------------------------------------------------------------------------

  private async build(): Promise<void> {
    const truth = new GroundTruthLog(this.opts.groundTruthPath);
    this.truth = truth;
    truth.record({ t: nowNs(), src: 'bench', kind: 'start', rig: this.rig.name, seed: this.opts.seed, fault: this.opts.fault ?? null, instrumentation: this.opts.instrumentation, dut: this.opts.dutCmd ?? null, esp: this.opts.espCmd ?? null, pid: process.pid });

    const devices = new Map<string, PoweredDevice>();
    for (const d of this.plan.devices) {
      const pty = this.newPty(d.port);
      const link = new ConsoleLink({ kind: this.opts.consoleLink, deliver: (chunk) => void pty.write(chunk) });
      this.consoles.push(link);
      const out = (chunk: Buffer): void => link.write(chunk);
      if (d.port === 'esp' && this.opts.espCmd) {
        const port = await freeLocalPort();
        const esp = new DutProcess({
          command: this.opts.espCmd,
          name: 'esp',
          console: out,
          truth,
          env: { HIL_HTTP_PORT: String(port), HIL_HTTP_HOST: '127.0.0.1' },
          log: (m) => this.opts.log(`esp-cmd: ${m}`),
        });
        devices.set(d.name, esp);
        this.espRx = (line) => esp.deliverLine(line);
        if (d.http) this.http[d.http] = `http://127.0.0.1:${port}`;
      } else if (d.port === 'esp') {
        const port = await freeLocalPort();
        const esp = new EspFirmware({
          fault: this.espFault(),
          seed: this.childSeed(),
          clock: this.clock(200_000, 800_000),
          console: out,
          truth,
          port,
          onSimError: (e) => this.opts.log(`esp: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`),
        });
        devices.set(d.name, esp);
        this.espRx = (line) => esp.uartRx(line);
        if (d.http) this.http[d.http] = `http://127.0.0.1:${port}`;
      } else {
        const pi = this.buildPi(out, truth);
        this.pi = pi;
        devices.set(d.name, pi.device);
      }
    }
    this.wireUart();

    for (const b of this.plan.boards) {
      const pty = this.newPty(b.port);
      const send = (bytes: Buffer): void => void pty.write(bytes);
      const board: SimRelayBoard =
        b.kind === 'modbus-rtu'
          ? new ModbusRelaySlave({ name: b.name, send, truth, baudRate: b.baudRate, ...(b.unitId !== undefined ? { unitId: b.unitId } : {}), ...(b.coils !== undefined ? { coils: b.coils } : {}) })
          : new FirmataBoardSim({ name: b.name, send, truth, bootBlinkMs: this.opts.boardBootBlinkMs, baudRate: b.baudRate });
      pty.on('data', (bytes: Buffer) => board.receive(bytes));
      this.boards.push(board);
      const byLabel = new Map(b.channels.map((c) => [c.label, c]));
      // Without the rig's limits (a wiring that does not give them) there is nothing to check against.
      const limits = this.rig.limits;
      const audit = limits ? new CommandSpacingAudit(b.name, limits, new Set(b.channels.filter((c) => 'button' in c.role).map((c) => c.label))) : undefined;
      const module = new RelayModule({
        name: b.name,
        activeLow: b.activeLow,
        seed: this.childSeed(),
        pins: Object.fromEntries(b.channels.map((c) => [c.pin, c.label])),
        truth,
        onContact: (label, closed, t, bounce) => this.onContact(b.name, byLabel.get(label)!, closed, t, bounce),
        onInput: (label, level, coilOn, changed, t) => {
          const short = audit?.input(label, level, coilOn, changed, t);
          if (!short) return;
          truth.record({ t, src: `${b.name}:${label}`, kind: 'short-command', what: short.what, press: short.press, performed_ms: Number(short.performedMs.toFixed(3)), limit_ms: short.limitMs });
          this.opts.onShortCommand?.(short);
        },
      });
      module.attach(board);
      this.modules.push(module);
    }

    for (const [name, device] of devices) {
      const spec = this.rig.power[name];
      if (spec) {
        this.rails.set(name, new SupplyRail({ name, device, truth, onError: (e) => this.opts.log(`${name}: ${e.message}`) }));
      } else {
        this.alwaysOn.push(device);
      }
    }

    for (const board of this.boards) board.powerOn();
    this.powerTimer = setTimeout(() => this.bringUpSupplies(), this.opts.devicePowerDelayMs);
  }

  private buildPi(out: (chunk: Buffer) => void, truth: GroundTruthLog): Pi {
    const clock = this.clock(5_000_000, 30_000_000);
    const seed = this.childSeed();
    if (this.opts.dutCmd) {
      const dut = new DutProcess({
        command: this.opts.dutCmd,
        gpioMap: this.plan.piGpio,
        edgeTimes: this.opts.dutEdgeTimes === true,
        console: out,
        truth,
        initialLevels: () => this.lineLevels,
        log: (m) => this.opts.log(`dut: ${m}`),
      });
      return { device: dut, deliverGpio: (bcm, level, t) => dut.deliverGpio(bcm, level, t) };
    }
    const fw = new PanelFirmware({
      gpioMap: this.plan.piGpio,
      fault: this.panelFault(),
      seed,
      clock,
      console: out,
      uartTx: (line) => this.piUart?.send(line),
      truth,
      instrumentation: this.opts.instrumentation,
      // The relays know their contact times a few ms ahead: the panel's model never runs past a
      // contact that is still on its way, so a contact delivered late by a busy host lands on time.
      inputHorizon: () => this.nextContactNs(),
      // With that horizon the model need not trail the wall clock: an input can only come from a
      // Firmata byte, which the board stamps when it reads it and whose contact is milliseconds
      // later still. Trailing it would hold every console line back by the lag, a delay between
      // the device printing a line and its first byte leaving that no real UART has (a harness
      // fitting the device clock to arrival times then placed every device event that much late).
      paceLagMs: 0,
    });
    return { device: fw, deliverGpio: (bcm, level, t) => fw.deliverGpio(bcm, level, t) };
  }

  private piUart: UartLink | undefined;
  /** The ESP's UART receiver (built-in firmware or external program), when there is an ESP. */
  private espRx: ((line: string) => void) | undefined;

  /**
   * The earliest time a contact not yet delivered can have: a relay's pending contact, or a byte a
   * board has received but not handled yet (a busy host can run the board's timer late; the
   * contact it leads to is still later than the byte).
   */
  private nextContactNs(): bigint | undefined {
    let min: bigint | undefined;
    const take = (t: bigint | undefined): void => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    for (const m of this.modules) take(m.nextContactNs);
    for (const b of this.boards) take(b.pendingRxNs);
    return min;
  }

  private wireUart(): void {
    const rx = this.espRx;
    if (!rx || !this.pi || simDeviceLinks(this.rig, this.opts).length === 0) return;
    this.piUart = new UartLink({ baudRate: 115200, eol: '\n', deliver: rx });
    this.links.push(this.piUart);
  }

  private bringUpSupplies(): void {
    this.powerTimer = undefined;
    if (this.st !== 'running') return;
    this.supplyUp = true;
    const t = nowNs();
    for (const b of this.plan.boards) {
      const module = this.modules.find((m) => m.name === b.name)!;
      for (const c of b.channels) {
        if (!('power' in c.role)) continue;
        const closed = module.channels.get(c.pin)?.isClosed ?? false;
        this.rails.get(c.role.power)?.set(c.role.contact === 'NC' ? !closed : closed, t, 'bench supply on');
      }
    }
    for (const d of this.alwaysOn) {
      d.powerOn().catch((e: unknown) => this.opts.log(`device without power relay failed to boot: ${String(e)}`));
    }
  }

  private onContact(board: string, ch: PlannedChannel, closed: boolean, t: bigint, bounce: boolean): void {
    if (this.st !== 'running') return;
    const role = ch.role;
    if ('button' in role) {
      // Inputs are pulled up; a closed contact pulls the line to ground.
      const level: 0 | 1 = closed ? 0 : 1;
      if (this.lineLevels.get(role.gpio)?.level === level) return;
      this.lineLevels.set(role.gpio, { level, since: t });
      this.truth?.record({ t, src: `gpio:${role.device}`, kind: 'gpio', pin: role.gpio, level, btn: role.button, bounce });
      this.pi?.deliverGpio(role.gpio, level, t);
      return;
    }
    // Supply bounce is ridden through by the devices' input capacitors: only make and break count.
    if (bounce || !this.supplyUp) return;
    const powered = role.contact === 'NC' ? !closed : closed;
    this.rails.get(role.power)?.set(powered, t, `${board}:${ch.label} ${closed ? 'energised' : 'released'} (${role.contact})`);
  }

  private newPty(name: string): PtyPair {
    if (this.ptys.has(name)) throw new Error(`SimBench: rig "${this.rig.name}" uses sim port "${name}" twice`);
    const p = new PtyPair();
    this.ptys.set(name, p);
    return p;
  }

  private panelFault(): PanelFault | undefined {
    const f = this.opts.fault;
    return f !== undefined && (PANEL_FAULTS as readonly string[]).includes(f) ? (f as PanelFault) : undefined;
  }

  private espFault(): EspFault | undefined {
    const f = this.opts.fault;
    return f !== undefined && (ESP_FAULTS as readonly string[]).includes(f) ? (f as EspFault) : undefined;
  }

  private childSeed(): number {
    return Math.floor(this.rng() * 2 ** 31);
  }

  /** A crystal: offset in [min, max) µs, drift 10–60 ppm either way. */
  private clock(minUs: number, maxUs: number): { offsetUs: number; driftPpm: number } {
    const offsetUs = Math.floor(minUs + this.rng() * (maxUs - minUs));
    const ppm = 10 + this.rng() * 50;
    return { offsetUs, driftPpm: Math.round((this.rng() < 0.5 ? -ppm : ppm) * 10) / 10 };
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for the ESP's server, so its URL is known up front). */
function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
