import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimBenchDescription, SimFault } from './bench.ts';
import type { SimWiring } from './wiring.ts';

/** Options of {@link startSimBench}. */
export interface StartSimBenchOptions {
  /** Broken firmware variant (`--fault`). Default: none. */
  fault?: SimFault;
  /** `--instrument`: panel instrumentation variants (`racy-q-put`, `raw-edges`). Default: none. */
  instrumentation?: readonly string[];
  /** `--seed`. Default 1. */
  seed?: number;
  /** `--ground-truth`. Default: the sim picks a file in the OS temp folder (see the description). */
  groundTruthPath?: string;
  /** `--dut-cmd`: an external program replaces the Pi firmware. Default: none. */
  dutCmd?: string;
  /** `--dut-edge-times`: the `dutCmd` program gets each GPIO change with its contact time. Default false. */
  dutEdgeTimes?: boolean;
  /** `--esp-cmd`: an external program replaces the ESP firmware. Default: none. */
  espCmd?: string;
  /** `--rig`: rig file with a default-exported RigDefinition. Default: `rigs/sim-bench.ts`. */
  rig?: string;
  /** `--wiring`: the rig to wire, as data ({@link simWiring}); instead of `rig`. */
  wiring?: SimWiring;
  /** `--link`: how the device consoles reach their PTYs (`direct`, `uart`, `usb-ftdi`). Default: the sim's (`direct`). */
  link?: string;
  /** `--device-power-delay`, ms. Default: the sim's (250). */
  devicePowerDelayMs?: number;
  /** How long to wait for the description line, ms. Default 15000 (a cold tsx cache on a loaded box). */
  startTimeoutMs?: number;
  /** After SIGTERM, how long {@link SimBenchHandle.stop} waits before SIGKILL, ms. Default 5000. */
  stopGraceMs?: number;
  /** Receives the sim's stderr (diagnostics). Default: kept in {@link SimBenchHandle.stderr} only. */
  onStderr?: (text: string) => void;
  /** Receives the bench events the sim prints after its description (see {@link SimBenchEvent}). Default: none. */
  onEvent?: (event: SimBenchEvent) => void;
  /** Working directory of the sim. Default: this process's. */
  cwd?: string;
}

/**
 * What the sim tells its harness after the description, one JSON object a line on stdout.
 * `shortCommand`: a relay board performed a press shorter (or a re-press sooner) than the rig's
 * limits allow the harness to command, so the link delivered the commands late (command-audit.ts);
 * `t` is host ns as a decimal string, `reason` the sentence for the record.
 */
export interface SimBenchEvent {
  shortCommand?: { board: string; button: string; press: number; what: 'hold' | 'gap' | 'period' | 'after'; performedMs: number; limitMs: number; t: string; reason: string };
}

/** How the sim process ended. */
export interface SimExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running sim process. */
export interface SimBenchHandle {
  /** The JSON line the sim printed. */
  readonly description: SimBenchDescription;
  readonly pid: number;
  /** The last 64 KiB of the sim's stderr. */
  readonly stderr: string;
  /** Resolves when the process has exited (whoever ended it). */
  readonly exited: Promise<SimExit>;
  /**
   * SIGTERM, wait for the exit; SIGKILL after `stopGraceMs`. Resolves with how it ended; safe to
   * call twice and after the process died by itself.
   */
  stop(): Promise<SimExit>;
  /** Send a control line to the sim (`reset-board relays-a`); see docs/sim.md. */
  control(line: string): void;
}

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const STDERR_KEEP = 64 * 1024;

/** Raised when the sim does not come up; carries its stderr. */
export class SimStartError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(stderr.trim() ? `${message}\n--- sim stderr ---\n${stderr.trimEnd()}` : `${message} (the sim wrote nothing on stderr)`);
  }
}

/**
 * Start the simulated bench as a child process (`node --import=tsx harness/sim/main.ts …`) and
 * wait for its description line. The child watches its stdin, so it also stops if this process
 * dies without calling {@link SimBenchHandle.stop}.
 */
export function startSimBench(opts: StartSimBenchOptions = {}): Promise<SimBenchHandle> {
  const args = ['--import=tsx', MAIN, '--exit-with-parent'];
  if (opts.fault !== undefined) args.push('--fault', opts.fault);
  if (opts.instrumentation !== undefined && opts.instrumentation.length > 0) args.push('--instrument', opts.instrumentation.join(','));
  if (opts.seed !== undefined) args.push('--seed', String(opts.seed));
  if (opts.groundTruthPath !== undefined) args.push('--ground-truth', opts.groundTruthPath);
  if (opts.dutCmd !== undefined) args.push('--dut-cmd', opts.dutCmd);
  if (opts.dutEdgeTimes) args.push('--dut-edge-times');
  if (opts.espCmd !== undefined) args.push('--esp-cmd', opts.espCmd);
  if (opts.rig !== undefined) args.push('--rig', opts.rig);
  if (opts.wiring !== undefined) args.push('--wiring', JSON.stringify(opts.wiring));
  if (opts.link !== undefined) args.push('--link', opts.link);
  if (opts.devicePowerDelayMs !== undefined) args.push('--device-power-delay', String(opts.devicePowerDelayMs));
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const graceMs = opts.stopGraceMs ?? 5000;

  // Its own process group, as a real bench has its own supply: a terminal's Ctrl-C reaches the
  // harness's whole group, and would otherwise stop the bench (cutting the boards' power) before
  // the harness has released its relays. The harness stops it last; it also stops when its stdin
  // (held by this process) closes, so it never outlives the harness.
  const child = spawn(process.execPath, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_KEEP);
    opts.onStderr?.(s);
  });
  child.stdin.on('error', () => undefined);
  const exited = new Promise<SimExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  let stopping: Promise<SimExit> | undefined;
  const stop = (): Promise<SimExit> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        child.stdin.destroy();
      }
    })();
    return stopping;
  };

  return new Promise<SimBenchHandle>((resolve, reject) => {
    let out = '';
    let settled = false;
    const fail = (msg: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Give stderr a moment to arrive, then make sure the child is gone before reporting.
      void stop().then(() => reject(new SimStartError(msg, stderr)));
    };
    const timer = setTimeout(() => fail(`sim did not print its description within ${startTimeoutMs} ms (pid ${child.pid})`), startTimeoutMs);
    child.once('error', (e) => fail(`cannot start the sim (${process.execPath} ${args.join(' ')}): ${e.message}`));
    void exited.then(({ code, signal }) => fail(`sim exited before printing its description (code ${code}, signal ${signal})`));
    child.stdout.setEncoding('utf8');
    /** After the description: bench events, one JSON object a line; anything else is a sim bug, shown where diagnostics go. */
    const onEventLine = (line: string): void => {
      let event: SimBenchEvent | undefined;
      try {
        event = JSON.parse(line) as SimBenchEvent;
      } catch {
        event = undefined;
      }
      if (event && typeof event === 'object' && event.shortCommand) opts.onEvent?.(event);
      else if (line.trim() !== '') opts.onStderr?.(`[sim stdout] ${line}\n`);
    };
    /** Hand over every whole line received after the description. */
    const eventLines = (): void => {
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        onEventLine(out.slice(0, nl));
        out = out.slice(nl + 1);
      }
    };
    child.stdout.on('data', (s: string) => {
      out += s;
      if (settled) {
        eventLines();
        return;
      }
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      let description: SimBenchDescription;
      try {
        description = JSON.parse(out.slice(0, nl)) as SimBenchDescription;
      } catch (e) {
        fail(`sim's first stdout line is not JSON (${(e as Error).message}): ${out.slice(0, nl).slice(0, 200)}`);
        return;
      }
      settled = true;
      clearTimeout(timer);
      out = out.slice(nl + 1);
      resolve({
        description,
        pid: child.pid!,
        get stderr() {
          return stderr;
        },
        exited,
        stop,
        control(line: string) {
          if (!child.stdin.destroyed) child.stdin.write(line.replace(/\n/g, ' ') + '\n');
        },
      });
      // Events that came in the same chunk as the description.
      eventLines();
    });
  });
}
