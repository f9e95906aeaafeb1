import { spawn, type ChildProcess } from 'node:child_process';
import type { GroundTruthLog } from './ground-truth.ts';
import { rankAsDevice, SIM_PRIORITY } from './priority.ts';
import type { PoweredDevice } from './wiring.ts';

/** Options of {@link DutProcess}. */
export interface DutProcessOptions {
  /** Shell command line, run with `/bin/sh -c` in its own process group. Required. */
  command: string;
  /** Button → BCM pin, passed as JSON in `HIL_GPIO_MAP`. Default `{}` (a device with no wired inputs, e.g. the ESP). */
  gpioMap?: Record<string, number>;
  /** The device's console: every byte of the program's stdout and stderr, as it arrives. Required. */
  console: (chunk: Buffer) => void;
  /** Device name (ground-truth `src`). Default `pi`. */
  name?: string;
  /** `dut_start` / `dut_exit` / `dut_gpio` records. Default: none. */
  truth?: GroundTruthLog;
  /** Working directory. Default: the sim's. */
  cwd?: string;
  /** Extra environment (on top of the sim's). Default: none. */
  env?: Record<string, string>;
  /**
   * Levels of the wired lines at the moment the program starts, asked at each power-on, with the
   * host time each line took that level. Lines reading 0 are sent right after the start, dated when
   * they went low, so the program may assume every line starts at 1 (pulled up, released).
   * Default: all 1.
   */
  initialLevels?: () => ReadonlyMap<number, { level: 0 | 1; since: bigint }>;
  /** Diagnostics (spawn errors, exits). Default: stderr. */
  log?: (msg: string) => void;
  /**
   * Add the contact's time to every `gpio` line: `gpio <bcm> <level> <t_ns>`, CLOCK_MONOTONIC in
   * ns (Python's `time.monotonic_ns()`, C's `clock_gettime(CLOCK_MONOTONIC)`), for a program that
   * debounces on the edge's time as a Pi's kernel timestamps it, not on when it reads the line.
   * Default false: three fields, as every program understands.
   */
  edgeTimes?: boolean;
  /**
   * Nice value for the program and its session (see {@link rankAsDevice}): it stands in for a
   * device with a CPU of its own, so it is ranked as the sim ranks itself. Default
   * {@link SIM_PRIORITY}; `null`: leave it at the priority it inherits.
   */
  priority?: number | null;
}

/** `off` → (powerOn) `running` → (powerOff, or the program exits by itself) `off`/`exited`. */
export type DutState = 'off' | 'running' | 'exited';

interface Life {
  child: ChildProcess;
  closed: Promise<void>;
}

/**
 * An external program in place of the built-in Pi firmware ("device under test").
 *
 * Protocol (see docs/sim.md): the program gets `HIL_GPIO_MAP` (JSON button → BCM pin) in its
 * environment; every change of a wired input level reaches its stdin as a line `gpio <bcm>
 * <level>\n` (0 = pressed: the inputs are pulled up and a closed contact pulls them low), written
 * when the level changes on the simulated bench (the contact's own time, to ~1 ms). Whatever it
 * writes to stdout *and* stderr is the Pi's serial console, byte for byte (as a program started on
 * a serial getty, whose fds 1 and 2 are the same tty; the order between the two pipes is only as
 * good as the program's flushing). Power off is SIGKILL to its whole process group; power on
 * starts it again. stdin closes when the sim shuts down, so a program that exits on EOF cannot
 * outlive a sim that was itself killed.
 */
export class DutProcess implements PoweredDevice {
  readonly name: string;
  private life: Life | undefined;
  private st: DutState = 'off';
  private queue: Array<{ t: bigint; line: string }> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: DutProcessOptions) {
    if (typeof opts.command !== 'string' || opts.command.trim() === '') {
      throw new TypeError(`DutProcess: command must be a non-empty shell command, got ${JSON.stringify(opts.command)}`);
    }
    this.name = opts.name ?? 'pi';
    this.log = opts.log ?? ((m) => process.stderr.write(`[sim dut ${this.name}] ${m}\n`));
  }

  get state(): DutState {
    return this.st;
  }

  /** Process id of the running program (the shell), if any. */
  get pid(): number | undefined {
    return this.st === 'running' ? this.life?.child.pid : undefined;
  }

  /** Start the program. Resolves once it has been spawned; rejects if it cannot be. A no-op while running. */
  powerOn(): Promise<void> {
    if (this.st === 'running') return Promise.resolve();
    const child = spawn('/bin/sh', ['-c', this.opts.command], {
      cwd: this.opts.cwd,
      env: { ...process.env, ...this.opts.env, HIL_GPIO_MAP: JSON.stringify(this.opts.gpioMap ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group: power off kills its children too, and a terminal's ^C is the sim's
    });
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const life: Life = { child, closed };
    this.life = life;
    this.st = 'running';
    this.queue = [];
    child.stdin?.on('error', () => undefined); // EPIPE once it is gone: the line is lost, as on a dead Pi
    child.stdout?.on('data', (b: Buffer) => this.opts.console(b));
    child.stderr?.on('data', (b: Buffer) => this.opts.console(b));
    child.once('exit', (code, signal) => {
      this.opts.truth?.record({ t: process.hrtime.bigint(), src: this.name, kind: 'dut_exit', pid: child.pid, code, signal });
      if (this.life !== life) return;
      this.st = 'exited';
      this.log(`program exited (code ${String(code)}, signal ${String(signal)}) while powered; it stays down until the next power cycle`);
    });
    return new Promise<void>((resolve, reject) => {
      child.once('spawn', () => {
        // Its own session (detached) starts in a fresh autogroup at nice 0, level with every busy
        // process on the host: a healthy gpiozero panel under two CPU hogs then timed its own
        // callbacks at 3.3 ms (p99) and read contact edges late. The device it stands in for has
        // its own CPU; rank it as the sim ranks itself.
        const priority = this.opts.priority === undefined ? SIM_PRIORITY : this.opts.priority;
        const ranked = priority !== null && child.pid !== undefined ? rankAsDevice(child.pid, priority) : undefined;
        this.opts.truth?.record({ t: process.hrtime.bigint(), src: this.name, kind: 'dut_start', pid: child.pid, cmd: this.opts.command, ...(ranked ? { ranked } : {}) });
        // Dated when the line went low, not now: a release the bench has yet to deliver (its contact
        // opened just before the start, its timer not yet run) is dated before now and would
        // otherwise be sent first, leaving the program a button held for good (seen under load:
        // the gpiozero panel booted with every button stuck pressed, and ignored its first presses).
        for (const [pin, { level, since }] of this.opts.initialLevels?.() ?? []) if (level === 0) this.deliverGpio(pin, 0, since);
        resolve();
      });
      child.once('error', (e) => {
        if (this.life === life) {
          this.life = undefined;
          this.st = 'off';
        }
        reject(new Error(`DutProcess ${this.name}: cannot start /bin/sh -c ${JSON.stringify(this.opts.command)}: ${e.message}`, { cause: e }));
      });
    });
  }

  /** SIGKILL the program's process group; resolves when it has exited and its pipes closed. */
  async powerOff(): Promise<void> {
    const life = this.life;
    this.life = undefined;
    this.st = 'off';
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!life) return;
    const pid = life.child.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone (ESRCH)
      }
    }
    life.child.stdin?.destroy();
    if (pid !== undefined) await life.closed;
  }

  /**
   * One line received on the device's UART (the ESP's link from the Pi), written to stdin at once
   * as it arrived (`STATE …`). Lost unless running, as on a link to a board that is off.
   */
  deliverLine(line: string): void {
    const stdin = this.life?.child.stdin;
    if (this.st !== 'running' || !stdin || stdin.destroyed) return;
    stdin.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** A wired input changed to `level` at host time `tNs`; written to stdin at that time. Ignored unless running. */
  deliverGpio(bcm: number, level: 0 | 1, tNs: bigint): void {
    if (this.st !== 'running') return;
    const line = this.opts.edgeTimes ? `gpio ${bcm} ${level} ${tNs}\n` : `gpio ${bcm} ${level}\n`;
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.t > tNs) i--;
    this.queue.splice(i, 0, { t: tNs, line });
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const waitMs = Number(this.queue[0]!.t - process.hrtime.bigint()) / 1e6;
    if (waitMs <= 0.5) {
      this.flushDue();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushDue();
    }, Math.ceil(waitMs));
  }

  private flushDue(): void {
    const stdin = this.life?.child.stdin;
    const horizon = process.hrtime.bigint() + 500_000n;
    let text = '';
    while (this.queue.length > 0 && this.queue[0]!.t <= horizon) text += this.queue.shift()!.line;
    if (text && stdin && !stdin.destroyed) stdin.write(text);
    this.arm();
  }
}
