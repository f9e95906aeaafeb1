import fs from 'node:fs';
import path from 'node:path';
import { ClockSync } from '../core/clock-sync.ts';
import { DeathWatch, DEFAULT_DEATH_PATTERNS } from '../core/death-watch.ts';
import { LineDecoder } from '../core/decoders.ts';
import { ConfigError } from '../core/errors.ts';
import type { LineSource } from '../core/interfaces.ts';
import { ObservationLog } from '../core/observation-log.ts';
import { SerialLineSource } from '../hw/serial-line-source.ts';
import type { PortSpec, RigDefinition } from '../rig/types.ts';
import { SIM_FAULTS, type SimFault } from '../sim/bench.ts';
import { startSimBench, type SimBenchHandle } from '../sim/sim-process.ts';

export interface SessionOptions {
  /** Folder for this run's records (raw serial logs, ground truth). */
  outDir: string;
  /** Simulated bench only: a broken firmware variant to switch in. */
  fault?: string;
  /** Simulated bench only: seed for relay timing and device clocks. Default 1. */
  seed?: number;
  /** Simulated bench only: run this program as the Pi firmware (see docs/sim.md). */
  dutCmd?: string;
}

/**
 * Everything a run has open on a rig: the simulated bench (when the rig is simulated), one
 * serial line source per device, the observation log, death watch and clock mapping. Scenarios
 * reach it through `session()` (harness/runner/context.ts).
 */
export class RigSession {
  readonly log = new ObservationLog();
  readonly deathWatch: DeathWatch;
  readonly clocks: ClockSync;
  readonly sources = new Map<string, LineSource>();
  /** Resolved port paths (sim PTYs filled in). */
  readonly ports = new Map<string, string>();
  /** HTTP base URLs per device. */
  readonly http = new Map<string, string>();
  private sim: SimBenchHandle | undefined;
  private closed = false;

  private constructor(
    readonly rig: RigDefinition,
    readonly options: SessionOptions,
  ) {
    const patterns: Record<string, readonly RegExp[]> = { '*': DEFAULT_DEATH_PATTERNS };
    for (const [name, d] of Object.entries(rig.devices)) if (d.deathPatterns) patterns[name] = d.deathPatterns;
    this.deathWatch = new DeathWatch(this.log, { patterns });
    this.clocks = new ClockSync(this.log);
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
    if (this.options.fault && !this.rig.simulated) throw new ConfigError(`--fault ${this.options.fault}: faults exist only on the simulated bench; rig ${this.rig.name} is a real bench`);
    if (this.rig.simulated) {
      const fault = this.options.fault;
      if (fault && !(SIM_FAULTS as readonly string[]).includes(fault)) {
        throw new ConfigError(`--fault: unknown fault ${JSON.stringify(fault)}; the simulated bench has: ${SIM_FAULTS.join(', ')}`);
      }
      this.sim = await startSimBench({
        ...(fault ? { fault: fault as SimFault } : {}),
        seed: this.options.seed ?? 1,
        ...(this.options.dutCmd ? { dutCmd: this.options.dutCmd } : {}),
        groundTruthPath: path.join(this.options.outDir, 'ground-truth.jsonl'),
      });
      this.log.record('harness', 'note', { what: 'simulated bench started', pid: this.sim.pid, fault: this.options.fault ?? 'none' });
    }
    for (const [name, d] of Object.entries(this.rig.devices)) {
      const port = this.resolve(name, d.port);
      if (port.path) this.ports.set(name, port.path);
      if (d.http) {
        const url = 'url' in d.http ? d.http.url : this.sim?.description.http[d.http.sim];
        if (url) this.http.set(name, url);
      }
      const src = new SerialLineSource({
        name,
        port,
        baudRate: d.baudRate ?? 115200,
        log: this.log,
        decoder: new LineDecoder(d.decoders ?? []),
        rawLogPath: path.join(this.options.outDir, 'serial', `${name}.log`),
      });
      this.sources.set(name, src);
      await src.open();
    }
    for (const [name, b] of Object.entries(this.rig.boards)) {
      const port = this.resolve(name, b.port);
      if (port.path) this.ports.set(name, port.path);
    }
  }

  /** Close every source, stop the sim. Safe to call twice; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const src of this.sources.values()) await src.close().catch(() => undefined);
    this.deathWatch.close();
    this.clocks.close();
    if (this.sim) await this.sim.stop().catch(() => undefined);
  }
}
