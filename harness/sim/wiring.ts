// The wires of the simulated bench: how a rig definition maps onto simulated parts (which board
// pin drives which relay, which contact feeds which GPIO or supply), the Pi → ESP UART, and the
// supply rails that switch a device on and off. No PTYs and no processes here.
import type { RigDefinition } from '../rig/types.ts';
import type { CommandLimits } from './command-audit.ts';
import type { GroundTruthLog } from './ground-truth.ts';
import { BUTTONS, DEFAULT_GPIO_MAP, isButtonName, type ButtonName } from '../devices/panel.ts';
import { UartLine } from './firmata/uart.ts';

/** Sim models the bench knows, by the `sim` name of a device's port. */
export const SIM_DEVICE_MODELS = ['pi', 'esp'] as const;
export type SimDeviceModel = (typeof SIM_DEVICE_MODELS)[number];

/** One relay channel as the sim wires it. */
export interface PlannedChannel {
  /** Label of the channel in its module: the button name, or `power-<device>`. */
  label: string;
  pin: number;
  role: { button: ButtonName; device: string; gpio: number } | { power: string; contact: 'NO' | 'NC' };
}

/** Relay board kinds the sim can stand in for. */
export const SIM_BOARD_KINDS = ['firmata', 'modbus-rtu'] as const;
export type SimBoardKind = (typeof SIM_BOARD_KINDS)[number];

/** A relay board of the rig: its sim port name and the one relay module on it. */
export interface PlannedBoard {
  name: string;
  /** `firmata`: an Uno running StandardFirmata (pins 2-19); `modbus-rtu`: a Modbus relay module (coils 0…coils-1). */
  kind: SimBoardKind;
  /** Sim port name (`relays-a`). */
  port: string;
  baudRate: number;
  /** Modbus only: the slave address (default 1) and the number of coils (default 16). */
  unitId?: number;
  coils?: number;
  /** Polarity of the module; every channel on one board must agree. */
  activeLow: boolean;
  channels: PlannedChannel[];
}

export interface PlannedDevice {
  name: string;
  /** Sim port name, which is also the model (`pi`, `esp`). */
  port: SimDeviceModel;
  /** Device has an HTTP server whose address the sim reports under this name. */
  http?: string;
}

/** Everything the bench needs from a rig, validated. */
export interface BenchPlan {
  rig: string;
  boards: PlannedBoard[];
  devices: PlannedDevice[];
  /**
   * The simulated panel firmware's pin table, button → BCM pin, complete for all {@link BUTTONS}:
   * the rig's `gpio` for each button it wires, the panel's {@link DEFAULT_GPIO_MAP} pin for the
   * others (the firmware still reads them; no relay drives them).
   */
  piGpio: Record<ButtonName, number>;
}

/** A rig board as the sim wires it. `kind` defaults to `firmata`. */
export interface SimBoardWiring {
  port: { sim?: string };
  baudRate?: number;
  kind?: string;
  /** Modbus only: slave address and number of coils. */
  unitId?: number;
  coils?: number;
}

/**
 * The part of a rig the simulated bench wires, as plain data (no RegExps, no functions), so it can
 * be handed to the sim process: the boards, the devices' sim ports and HTTP servers, the buttons
 * and the power relays. Made by {@link simWiring}.
 */
export interface SimWiring {
  name: string;
  boards: Record<string, SimBoardWiring>;
  devices: Record<string, { port: { sim?: string }; http?: { url: string } | { sim: string } }>;
  buttons: RigDefinition['buttons'];
  power: RigDefinition['power'];
  /** The shortest hold and gap the harness commands (the rig's limits), for the sim's own check of what it performed. */
  limits?: CommandLimits;
}

/** What of `rig` the simulated bench wires (see {@link SimWiring}). */
export function simWiring(rig: Pick<RigDefinition, 'name' | 'boards' | 'devices' | 'buttons' | 'power'> & Partial<Pick<RigDefinition, 'limits'>>): SimWiring {
  const map = <T, U>(rec: Record<string, T>, f: (v: T) => U): Record<string, U> => Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, f(v)]));
  return {
    name: rig.name,
    boards: map(rig.boards, (b) => ({
      port: b.port.sim !== undefined ? { sim: b.port.sim } : {},
      ...(b.baudRate !== undefined ? { baudRate: b.baudRate } : {}),
      ...(b.kind !== undefined ? { kind: b.kind } : {}),
      ...(b.kind === 'modbus-rtu' && b.unitId !== undefined ? { unitId: b.unitId } : {}),
      ...(b.kind === 'modbus-rtu' && b.coils !== undefined ? { coils: b.coils } : {}),
    })),
    devices: map(rig.devices, (d) => ({ port: d.port.sim !== undefined ? { sim: d.port.sim } : {}, ...(d.http ? { http: d.http } : {}) })),
    buttons: map(rig.buttons, (b) => ({ board: b.board, pin: b.pin, activeLow: b.activeLow, device: b.device, gpio: b.gpio })),
    power: map(rig.power, (p) => ({ board: p.board, pin: p.pin, activeLow: p.activeLow, contact: p.contact, minOffMs: p.minOffMs, bootMs: p.bootMs })),
    ...(rig.limits ? { limits: { minHoldMs: rig.limits.minHoldMs, minGapMs: rig.limits.minGapMs } } : {}),
  };
}

/**
 * Check that the sim can build `rig` and work out its wiring: exactly the relays, buttons and
 * supplies the rig describes, on the pins it names. Throws an Error naming the rig path, what was
 * expected and what was found. Only `pi` and `esp` devices exist in the sim; buttons must be the
 * panel's and wired to the Pi (a rig may wire fewer than all of them); each board carries one
 * relay module, so its channels share one polarity.
 */
export function planBench(rig: SimWiring): BenchPlan {
  const where = `rig "${rig.name}"`;
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  const simName = (what: string, spec: { port: { sim?: string } }): string =>
    spec.port.sim ?? fail(`${what}.port.sim is missing: the simulated bench only provides sim ports (got ${JSON.stringify(spec.port)})`);

  const devices: PlannedDevice[] = [];
  for (const [name, d] of Object.entries(rig.devices)) {
    const port = simName(`devices.${name}`, d);
    if (!(SIM_DEVICE_MODELS as readonly string[]).includes(port)) {
      fail(`devices.${name}.port.sim must be one of ${SIM_DEVICE_MODELS.join(', ')} (the devices the sim models), got "${port}"`);
    }
    const dev: PlannedDevice = { name, port: port as SimDeviceModel };
    if (d.http && 'sim' in d.http) {
      if (port !== 'esp') fail(`devices.${name}.http.sim: only the esp model has an HTTP server, got device model "${port}"`);
      dev.http = d.http.sim;
    }
    devices.push(dev);
  }
  const models = devices.map((d) => d.port);
  for (const m of new Set(models)) if (models.filter((x) => x === m).length > 1) fail(`two devices use sim port "${m}"`);
  const deviceNamed = (name: string, what: string): PlannedDevice =>
    devices.find((d) => d.name === name) ?? fail(`${what} names device "${name}", which is not in devices (${devices.map((d) => d.name).join(', ')})`);

  const boards = new Map<string, PlannedBoard>();
  for (const [name, b] of Object.entries(rig.boards)) {
    const kind = (b.kind ?? 'firmata') as SimBoardKind;
    if (!(SIM_BOARD_KINDS as readonly string[]).includes(kind)) fail(`boards.${name}.kind must be one of ${SIM_BOARD_KINDS.join(', ')} (the relay boards the sim models), got ${JSON.stringify(b.kind)}`);
    const port = simName(`boards.${name}`, b);
    if (kind === 'firmata') {
      boards.set(name, { name, kind, port, baudRate: b.baudRate ?? 57600, activeLow: false, channels: [] });
      continue;
    }
    const unitId = b.unitId ?? 1;
    if (!Number.isInteger(unitId) || unitId < 1 || unitId > 247) fail(`boards.${name}.unitId must be a Modbus slave address 1-247, got ${String(b.unitId)}`);
    const coils = b.coils ?? 16;
    if (!Number.isInteger(coils) || coils < 1 || coils > 64) fail(`boards.${name}.coils must be 1-64 (a relay module's channels), got ${String(b.coils)}`);
    boards.set(name, { name, kind, port, baudRate: b.baudRate ?? 9600, unitId, coils, activeLow: false, channels: [] });
  }
  const polarity = new Map<string, { activeLow: boolean; from: string }>();
  const usedPins = new Map<string, string>();
  const channel = (what: string, boardName: string, pin: number, activeLow: boolean, ch: PlannedChannel): void => {
    const board = boards.get(boardName) ?? fail(`${what}.board is "${boardName}", which is not in boards (${[...boards.keys()].join(', ')})`);
    if (board.kind === 'firmata' && (!Number.isInteger(pin) || pin < 2 || pin > 19)) fail(`${what}.pin must be an Uno pin 2-19, got ${String(pin)}`);
    const coils = board.coils ?? 0;
    if (board.kind === 'modbus-rtu' && (!Number.isInteger(pin) || pin < 0 || pin >= coils)) {
      fail(`${what}.pin is the coil address on Modbus board ${boardName} and must be 0-${coils - 1} (0-based, as on the wire), got ${String(pin)}`);
    }
    const key = `${boardName}:${pin}`;
    const other = usedPins.get(key);
    if (other) fail(`${what}.pin ${pin} on ${boardName} is already used by ${other}`);
    usedPins.set(key, what);
    const pol = polarity.get(boardName);
    if (pol && pol.activeLow !== activeLow) {
      fail(`${what}.activeLow is ${activeLow} but ${pol.from}.activeLow is ${pol.activeLow}: the sim has one relay module per board, with one polarity`);
    }
    polarity.set(boardName, { activeLow, from: what });
    board.activeLow = activeLow;
    board.channels.push(ch);
  };

  const piGpio: Partial<Record<ButtonName, number>> = {};
  for (const [name, b] of Object.entries(rig.buttons)) {
    const what = `buttons.${name}`;
    if (!isButtonName(name)) fail(`${what}: the simulated panel has no button "${name}" (it has ${BUTTONS.join(', ')})`);
    const dev = deviceNamed(b.device, `${what}.device`);
    if (dev.port !== 'pi') fail(`${what}.device is "${b.device}" (sim model ${dev.port}); only the pi has button inputs`);
    if (!Number.isInteger(b.gpio) || b.gpio < 0 || b.gpio > 27) fail(`${what}.gpio must be a BCM pin 0-27, got ${String(b.gpio)}`);
    piGpio[name as ButtonName] = b.gpio;
    channel(what, b.board, b.pin, b.activeLow, { label: name, pin: b.pin, role: { button: name as ButtonName, device: b.device, gpio: b.gpio } });
  }
  // The panel firmware reads every button's pin; one the rig leaves unwired keeps the panel's own
  // pin, which must then not be one the rig gave to another button.
  const wiredAt = new Map<number, ButtonName>(Object.entries(piGpio).map(([b, g]) => [g, b as ButtonName]));
  for (const b of BUTTONS) {
    if (piGpio[b] !== undefined) continue;
    const pin = DEFAULT_GPIO_MAP[b];
    const taker = wiredAt.get(pin);
    if (taker !== undefined && devices.some((d) => d.port === 'pi')) {
      fail(`buttons.${taker}.gpio is ${pin}, the panel's pin for ${b}, which this rig does not wire: wire ${b} too (on another gpio), or give ${taker} a gpio no panel button uses`);
    }
    piGpio[b] = pin;
  }

  for (const [name, p] of Object.entries(rig.power)) {
    const what = `power.${name}`;
    deviceNamed(name, what);
    if (p.contact !== 'NO' && p.contact !== 'NC') fail(`${what}.contact must be "NO" or "NC", got ${JSON.stringify(p.contact)}`);
    channel(what, p.board, p.pin, p.activeLow, { label: `power-${name}`, pin: p.pin, role: { power: name, contact: p.contact } });
  }

  return { rig: rig.name, boards: [...boards.values()], devices, piGpio: piGpio as Record<ButtonName, number> };
}

/** What a supply rail switches: any simulated device (built-in firmware or an external DUT). */
export interface PoweredDevice {
  /** Apply power and boot; may resolve late (boot) or reject if power is removed meanwhile. */
  powerOn(): Promise<unknown>;
  /** Cut power at once (synchronously stops the device); resolves when it is fully down. */
  powerOff(): Promise<void>;
}

export interface SupplyRailOptions {
  /** Device name; ground truth `src` is `power:<name>`. */
  name: string;
  device: PoweredDevice;
  truth?: GroundTruthLog;
  /** A boot or shutdown that failed for a reason other than power removed meanwhile. */
  onError: (err: Error) => void;
}

/**
 * A device's supply. {@link set} follows the relay contact; power-on waits for the previous
 * power-off to finish (a worker must be gone before its successor binds the same HTTP port), and
 * a later change overrides an earlier one that has not taken effect yet.
 */
export class SupplyRail {
  private desired = false;
  private generation = 0;
  private off: Promise<void> = Promise.resolve();
  private pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly opts: SupplyRailOptions) {}

  get on(): boolean {
    return this.desired;
  }

  /** Power on (`true`) or off, at host time `tNs` (recorded). No-op if already in that state. */
  set(on: boolean, tNs: bigint, cause: string): void {
    if (this.stopped || on === this.desired) return;
    this.desired = on;
    const gen = ++this.generation;
    this.opts.truth?.record({ t: tNs, src: `power:${this.opts.name}`, kind: 'power', on, cause });
    if (on) {
      this.track(
        (async () => {
          await this.off;
          if (gen !== this.generation || this.stopped) return;
          await this.opts.device.powerOn();
        })(),
      );
    } else {
      this.off = this.opts.device.powerOff();
      this.track(this.off);
    }
  }

  /** Power off for good (bench shutdown) and wait for every pending transition. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.desired = false;
    this.generation++;
    this.track(this.opts.device.powerOff());
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<void>): void {
    const t = p.catch((e: unknown) => {
      // Power removed during boot is the normal outcome of a fast power cycle.
      const err = e instanceof Error ? e : new Error(String(e));
      if (isPowerLost(err) || this.stopped) return;
      this.opts.onError(err);
    });
    this.pending.add(t);
    void t.finally(() => this.pending.delete(t));
  }
}

function isPowerLost(e: Error): boolean {
  return (e as { powerLost?: boolean }).powerLost === true || /powered off|power removed|power was cut/i.test(e.message);
}

export interface UartLinkOptions {
  /** Line speed. Default 115200 (≈ 86.8 µs per byte, 8N1). */
  baudRate?: number;
  /** Appended to every line on the wire (counts for timing only). Default `"\n"`. */
  eol?: string;
  /** Called with each line when its last stop bit has arrived. */
  deliver: (line: string, tNs: bigint) => void;
}

/**
 * One direction of a UART between two simulated devices: a line sent at host time t arrives when
 * its last byte would have (bytes back to back at the baud rate, after whatever is still on the
 * wire). Delivery uses a real timer, so lines due together arrive together.
 */
export class UartLink {
  private readonly line: UartLine;
  private readonly eolBytes: number;
  private queue: Array<{ t: bigint; text: string }> = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: UartLinkOptions) {
    this.line = new UartLine(opts.baudRate ?? 115200);
    this.eolBytes = Buffer.byteLength(opts.eol ?? '\n');
  }

  send(text: string, tNs: bigint = process.hrtime.bigint()): void {
    if (this.closed) return;
    const bytes = Buffer.byteLength(text) + this.eolBytes;
    let end = tNs;
    for (let i = 0; i < bytes; i++) end = this.line.push(tNs);
    this.queue.push({ t: end, text });
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Number(this.queue[0]!.t - process.hrtime.bigint()) / 1e6;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = process.hrtime.bigint();
      while (this.queue.length > 0 && this.queue[0]!.t <= now) {
        const { t, text } = this.queue.shift()!;
        this.opts.deliver(text, t);
      }
      this.arm();
    }, Math.max(0, Math.ceil(wait)));
  }
}
