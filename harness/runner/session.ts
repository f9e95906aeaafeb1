import fs from 'node:fs';
import path from 'node:path';
import { ClockSync, type EpochFitsOptions } from '../core/clock-sync.ts';
import { DeathWatch, deathPatternsByDevice } from '../core/death-watch.ts';
import { QueueDepths } from '../core/queue-depth.ts';
import { ButtonPresser } from '../core/buttons.ts';
import { BenchInUse, ConfigError, PartGone, RigFault, RunStoppedError } from '../core/errors.ts';
import type { HttpActuator } from '../core/http-actuator.ts';
import type { InvariantMonitor } from '../core/invariants/monitor.ts';
import type { DigitalOutput, LineSource, RelayBoard } from '../core/interfaces.ts';
import { ObservationLog } from '../core/observation-log.ts';
import { HARNESS_KIND } from '../core/topics.ts';
import { RelayPower } from '../core/power.ts';
import { buildBoards, buildConsole } from '../parts/assemble.ts';
import { httpEndpoint } from '../parts/registry.ts';
import type { DeviceLink, PortSpec, RigDefinition } from '../rig/types.ts';
import { simConsoleCrossesUart, startSimulatedBench, type SimBenchHandle } from '../sim/provider.ts';

export interface SessionOptions {
  /** Folder for this run's records (raw serial logs, ground truth). */
  outDir: string;
  /** Simulated bench only: a broken firmware variant to switch in. */
  fault?: string;
  /** Simulated bench only: panel instrumentation variants (`racy-q-put`, `raw-edges`; docs/sim.md). Default: none. */
  instrument?: readonly string[];
  /** Simulated bench only: seed for relay timing and device clocks. Default 1. */
  seed?: number;
  /** Simulated bench only: how the device consoles reach their ports (`direct`, `uart`, `usb-ftdi`; docs/sim.md). Default: `direct`. */
  link?: string;
  /** Simulated bench only: run this program as the Pi firmware (see docs/sim.md). */
  dutCmd?: string;
  /** Simulated bench only: send the `dutCmd` program each GPIO change with its contact time (docs/sim.md). */
  dutEdgeTimes?: boolean;
  /** Simulated bench only: run this program as the ESP firmware (see docs/sim.md). */
  espCmd?: string;
  /** The run's log, when the caller subscribes to it before the session opens (the recorder). */
  log?: ObservationLog;
}

/**
 * Everything a run has open on a rig: the simulated bench (when the rig is simulated), one
 * serial line source per device, the observation log, death watch and clock mapping. Scenarios
 * reach it through `session()` (harness/runner/context.ts).
 */
export class RigSession {
  readonly log: ObservationLog;
  readonly deathWatch: DeathWatch;
  readonly clocks: ClockSync;
  /** What the clock mapping knows of the consoles' links (which cross a UART, at what baud). */
  readonly clockOptions: EpochFitsOptions;
  readonly sources = new Map<string, LineSource>();
  /** Resolved port paths (sim PTYs filled in). */
  readonly ports = new Map<string, string>();
  /** HTTP base URLs per device. */
  readonly httpUrls = new Map<string, string>();
  /** The relay boards, by name (each of its rig kind, built by harness/parts). */
  readonly boards = new Map<string, RelayBoard>();
  private presser: ButtonPresser | undefined;
  private readonly powers = new Map<string, RelayPower>();
  private readonly https = new Map<string, HttpActuator>();
  private readonly faultListeners = new Set<(fault: RigFault) => void>();
  private guardFn: (what: string) => void = () => undefined;
  /** Set by {@link stop}: why every command is refused from then on. */
  private stoppedBy: string | undefined;
  /** Live counters: presses made, requests sent, and each device's latest queue depth (progress lines, `waitIdle`). */
  readonly live = { presses: 0, requests: 0, depth: new QueueDepths() };
  /** The run's invariant monitor (set by the runner), for scenarios that judge a span themselves. */
  invariants: InvariantMonitor | undefined;
  /**
   * The links between devices on this bench as it runs (set by the runner's pre-flight: the rig's
   * `links`, or what the sim wires); undefined when nothing says.
   */
  links: DeviceLink[] | undefined;

  /** Whether state can travel from `from` to `to` on this bench (true when nothing says otherwise). */
  hasLink(from: string, to: string): boolean {
    return this.links === undefined || this.links.some((l) => l.from === from && l.to === to);
  }
  private sim: SimBenchHandle | undefined;
  private closed = false;
  /** Last line of defence: whatever ends the process, the relays are released on the way out. */
  private readonly exitHook = (): void => this.emergencyReleaseSync('process exit');

  private constructor(
    readonly rig: RigDefinition,
    readonly options: SessionOptions,
  ) {
    this.log = options.log ?? new ObservationLog();
    this.log.on('*', (o) => {
      if (o.source === 'buttons' && o.kind === 'press') this.live.presses++;
      else if (o.source === 'http' && o.kind === 'request') this.live.requests++;
      else this.live.depth.observe(o);
    });
    // Each device's list as the invariants resolve it (its invariant limits' patterns included):
    // the watch fails a test at once on exactly what the record is judged by.
    this.deathWatch = new DeathWatch(this.log, { patterns: deathPatternsByDevice(rig.devices, rig.invariants) });
    // A real bench's consoles are UARTs (USB-serial adapters); the sim's cross one when its link says so.
    const uart = !rig.simulated || simConsoleCrossesUart(options.link);
    this.clockOptions = uart ? { uartBaud: Object.fromEntries(Object.entries(rig.devices).map(([name, d]) => [name, d.baudRate ?? 115200])) } : {};
    this.clocks = new ClockSync(this.log, this.clockOptions);
  }

  /** Open a rig: start the sim if it is simulated, then open every device console. */
  static async open(rig: RigDefinition, options: SessionOptions): Promise<RigSession> {
    const s = new RigSession(rig, options);
    try {
      await s.start();
    } catch (error) {
      await s.close();
      throw error;
    }
    return s;
  }

  /** The panel buttons, pressed through the relays within the rig's limits. */
  get buttons(): ButtonPresser {
    if (!this.presser) throw new ConfigError(`rig ${this.rig.name} has no buttons`);
    return this.presser;
  }

  /** A device's power relay. */
  power(device: string): RelayPower {
    const p = this.powers.get(device);
    if (!p) throw new ConfigError(`rig ${this.rig.name} has no power relay for ${JSON.stringify(device)}; it has: ${[...this.powers.keys()].join(', ') || 'none'}`);
    return p;
  }

  /** Requests to a device's web server, recorded like presses. */
  http(device: string): HttpActuator {
    const h = this.https.get(device);
    if (!h) throw new ConfigError(`rig ${this.rig.name}: device ${JSON.stringify(device)} has no HTTP server; devices with one: ${[...this.https.keys()].join(', ') || 'none'}`);
    return h;
  }

  /**
   * Refuse actuation when `guard` throws (the runner refuses commands from a test that has
   * already ended). Applies to buttons and HTTP.
   */
  setGuard(guard: (what: string) => void): void {
    this.guardFn = guard;
  }

  /**
   * Stop: from this call on every command (press, power, HTTP, any energise) is refused, bursts
   * in flight are cut short, and then every relay is released. Synchronous and permanent: when it
   * returns, nothing can energise a relay any more. The first reason is kept.
   */
  stop(reason: string): void {
    this.stoppedBy ??= reason;
    const why = this.stoppedBy;
    for (const b of this.boards.values()) b.halt(why);
    this.presser?.halt(new RunStoppedError('press', why));
    this.releaseAll(why);
  }

  /** Why the session was stopped, or undefined while it runs. */
  get stopped(): string | undefined {
    return this.stoppedBy;
  }

  /** The guard every command passes: a stopped session refuses first, then the runner's guard. */
  private guardCommand(what: string): void {
    if (this.stoppedBy !== undefined) throw new RunStoppedError(what, this.stoppedBy);
    this.guardFn(what);
  }

  /** Hear about rig faults (a relay board reset, lost or gone) while the session runs. */
  onFault(listener: (fault: RigFault) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  /**
   * Park the bench: every relay released now (buttons up, power as the rig's wiring leaves it
   * with the relays released). Synchronous; the bytes are on their way when it returns.
   */
  releaseAll(reason: string): void {
    for (const b of this.boards.values()) b.releaseAll(reason);
    this.presser?.forgetHeld(reason);
  }

  /** {@link releaseAll} straight to the ports' descriptors, for process exit and a second Ctrl-C. */
  emergencyReleaseSync(reason: string): void {
    for (const b of this.boards.values()) {
      try {
        b.emergencyReleaseSync(reason);
      } catch {
        // nothing more can be done on the way out
      }
    }
  }

  private emitFault(fault: RigFault): void {
    for (const l of [...this.faultListeners]) l(fault);
  }

  /** Ground-truth file of the simulated bench (undefined on a real bench). */
  get groundTruthPath(): string | undefined {
    return this.sim?.description.groundTruth;
  }

  private resolve(name: string, spec: PortSpec): PortSpec {
    if (!spec.sim) return spec;
    const p = this.sim?.description.ports[spec.sim];
    if (!p) throw new ConfigError(`${name}: the simulated bench has no port "${spec.sim}" (it has: ${Object.keys(this.sim?.description.ports ?? {}).join(', ')})`);
    return { path: p };
  }

  private async start(): Promise<void> {
    fs.mkdirSync(path.join(this.options.outDir, 'serial'), { recursive: true });
    if (this.options.instrument?.length && !this.rig.simulated) throw new ConfigError(`--instrument: instrumentation variants exist only on the simulated bench; rig ${this.rig.name} is a real bench`);
    if (this.options.fault && !this.rig.simulated) throw new ConfigError(`--fault ${this.options.fault}: faults exist only on the simulated bench; rig ${this.rig.name} is a real bench`);
    if (this.options.link && !this.rig.simulated) throw new ConfigError(`--link ${this.options.link}: console links are simulated; rig ${this.rig.name} is a real bench, whose links are what its cables are`);
    if (this.rig.simulated) {
      // The rig itself goes to the sim: it wires what this rig describes, not rigs/sim-bench.ts.
      this.sim = await startSimulatedBench(this.rig, {
        ...(this.options.fault ? { fault: this.options.fault } : {}),
        ...(this.options.instrument?.length ? { instrumentation: this.options.instrument } : {}),
        seed: this.options.seed ?? 1,
        ...(this.options.link ? { link: this.options.link } : {}),
        ...(this.options.dutCmd ? { dutCmd: this.options.dutCmd } : {}),
        ...(this.options.dutEdgeTimes ? { dutEdgeTimes: true } : {}),
        ...(this.options.espCmd ? { espCmd: this.options.espCmd } : {}),
        groundTruthPath: path.join(this.options.outDir, 'ground-truth.jsonl'),
        // A press the bench performed shorter than it was commanded (a PTY that delivered it
        // late): recorded against that press, so a firmware that ignored it is not blamed for it.
        onEvent: ({ shortCommand: c }) => {
          if (c) this.log.append({ t: BigInt(c.t), source: c.board, kind: HARNESS_KIND.shortPress, fields: { reason: c.reason, button: c.button, press: c.press, short: c.what, performed_ms: Number(c.performedMs.toFixed(3)), limit_ms: c.limitMs } });
        },
      });
      this.log.record('harness', 'note', { what: 'simulated bench started', pid: this.sim.pid, fault: this.options.fault ?? 'none' });
      // The bench process ending by itself is the whole bench gone: boards, consoles and power.
      void this.sim.exited.then(({ code, signal }) => {
        if (this.closed) return;
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        this.log.record('harness', 'bench_gone', { what: 'the simulated bench exited', code: code ?? '', signal: signal ?? '' });
        this.emitFault(new PartGone(`the simulated bench exited mid-run (${how}): its boards, consoles and power are gone; nothing more can run on it`, 'sim'));
      });
    }
    await this.openBoards();
    for (const [name, d] of Object.entries(this.rig.devices)) {
      const port = this.resolve(name, d.port);
      if (port.path) this.ports.set(name, port.path);
      if (d.http) {
        const url = 'url' in d.http ? d.http.url : this.sim?.description.http[d.http.sim];
        if (url) {
          this.httpUrls.set(name, url);
          this.https.set(name, httpEndpoint.create(name, url, { log: this.log, guard: (what) => this.guardCommand(`${name}: ${what}`) }));
        }
      }
      const src = buildConsole(d, { name, port, log: this.log, rawLogPath: path.join(this.options.outDir, 'serial', `${name}.log`) });
      this.sources.set(name, src);
      await src.open();
    }
  }

  /**
   * Open every relay board (in parallel: a real Uno resets on open and blinks for ~2 s), release
   * every relay, and build buttons and power on their outputs. The exit hook goes in first, so
   * even a crash during the open leaves the relays released.
   */
  private async openBoards(): Promise<void> {
    const built = buildBoards(this.rig, {
      log: this.log,
      port: (name, spec) => {
        const port = this.resolve(name, spec);
        if (port.path) this.ports.set(name, port.path);
        return port;
      },
    });
    for (const { name, board } of built) {
      board.onFault((fault) => {
        // A reset or lost board released what the buttons held.
        this.presser?.forgetHeld(`${name}: ${fault.message}`);
        this.emitFault(fault);
      });
      this.boards.set(name, board);
    }
    process.on('exit', this.exitHook);
    const results = await Promise.allSettled([...this.boards.values()].map((b) => b.open()));
    // A board held by another process: the bench is in use, which says it all.
    const inUse = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason instanceof BenchInUse);
    if (inUse) throw inUse.reason as BenchInUse;
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failed.length > 0) throw new RigFault(failed.length === 1 ? failed[0]! : `${failed.length} relay boards failed to open:\n  ${failed.join('\n  ')}`);
    const outputOf = (board: string, pin: number): DigitalOutput => this.boards.get(board)!.output(pin);
    const buttonOutputs = new Map(Object.entries(this.rig.buttons).map(([name, b]) => [name, outputOf(b.board, b.pin)] as const));
    if (buttonOutputs.size > 0) this.presser = new ButtonPresser(buttonOutputs, this.rig.limits, this.log, { guard: (what) => this.guardCommand(what) });
    for (const [device, p] of Object.entries(this.rig.power)) this.powers.set(device, new RelayPower(device, outputOf(p.board, p.pin), p, this.log));
  }

  /** Release and close every board, close every source, stop the sim. Safe to call twice; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Relays first: nothing else matters as much as leaving the bench safe.
    await Promise.allSettled([...this.boards.values()].map((b) => b.close()));
    process.off('exit', this.exitHook);
    // The simulated relays take their release time (3–5 ms) after the bytes arrive; tearing the
    // sim down sooner would cut the boards' power first and hide whether the release happened.
    if (this.sim && this.boards.size > 0) await new Promise((r) => setTimeout(r, 50));
    for (const src of this.sources.values()) await src.close().catch(() => undefined);
    this.deathWatch.close();
    this.clocks.close();
    if (this.sim) await this.sim.stop().catch(() => undefined);
  }
}
