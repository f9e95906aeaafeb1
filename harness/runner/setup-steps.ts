/**
 * Bench preparation: external commands a rig runs before its scenarios (flash the ESP with
 * esptool/pio, copy the panel firmware to the Pi and restart its service, …).
 *
 * Each step runs in its own process group, so a timeout or Ctrl-C can end everything it started
 * (`sh` and its children, ssh, esptool…), not only the shell. A step that fails is a bench
 * problem ({@link SetupStepError} is a {@link RigFault}), never a firmware failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { RigFault } from '../core/errors.ts';
import type { ObservationLog } from '../core/observation-log.ts';
import type { FieldValue } from '../core/observation.ts';
import { showFound, type SetupStep } from '../rig/setup-steps.ts';

export type { SetupStep } from '../rig/setup-steps.ts';
export { validateSetupSteps } from '../rig/setup-steps.ts';

/** How one attempt of a step ended. */
export type SetupOutcome = 'ok' | 'failed' | 'timeout' | 'aborted';

export interface SetupAttempt {
  /** 1 for the first attempt. */
  attempt: number;
  /** Exit code, or null when a signal ended it or it never started. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: NodeJS.Signals | null;
  ms: number;
  outcome: SetupOutcome;
  /** Why it could not start (`spawn esptool.py ENOENT`), when it could not. */
  startError?: string;
}

/** A step that succeeded, with every attempt it took. */
export interface SetupStepResult {
  name: string;
  attempts: SetupAttempt[];
  /** Wall time of the step, retries and delays included, ms. */
  ms: number;
}

/** One attempt of a step as it ended, for a report. */
export interface AttemptReport {
  step: string;
  /** The command as it would be typed in a shell. */
  command: string;
  attempt: SetupAttempt;
  /** Lines it printed, stdout and stderr. */
  outputLines: number;
  /** Its last lines, each `out| …` or `err| …`. */
  tail: string[];
}

export interface RunSetupOptions {
  /** Ctrl-C: kills the running step's process group and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Every output line as it arrives, for live display. */
  onOutput?: (step: string, line: string) => void;
  /** Every attempt as it ends, with its last lines (for the run's report). */
  onAttempt?: (report: AttemptReport) => void;
}

/** Lines of output a failure message shows. */
const TAIL_LINES = 20;
/** SIGTERM → SIGKILL grace. */
const KILL_GRACE_MS = 2000;
/** After SIGKILL, how long to wait for the pipes to close before giving up on them. */
const CLOSE_AFTER_KILL_MS = 500;
/** A line longer than this (a progress bar without newlines) is cut into pieces. */
const MAX_LINE = 16 * 1024;
const DEFAULT_RETRY_DELAY_MS = 1000;

interface TailLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

/** A setup step still failed after its retries. A bench problem, not a firmware failure. */
export class SetupStepError extends RigFault {
  readonly setupStepFailed = true;
  constructor(
    /** The step's name. */
    readonly step: string,
    /** Every attempt, the last one being the one that decided. */
    readonly attempts: SetupAttempt[],
    /** The last lines of the last attempt's output. */
    readonly tail: string[],
    message: string,
  ) {
    super(message, `setup ${step}`);
    // RigFault's `name` is typed as its literal 'RigFault'; set ours at runtime for stack traces.
    Object.defineProperty(this, 'name', { value: 'SetupStepError', enumerable: false, configurable: true, writable: false });
  }

  get last(): SetupAttempt {
    return this.attempts[this.attempts.length - 1]!;
  }
}

/**
 * Run the steps in order. Each attempt's output goes into the log as it arrives (source `setup`,
 * kind `output`, fields `{ step, stream, attempt }`, text = the line), framed by `step_start`
 * `{ step, attempt, cmd }` and `step_end` `{ step, attempt, code?, signal?, ms, outcome }` (`code` and
 * `signal` only when there is one). A step that still fails after its retries throws a
 * {@link SetupStepError}; the steps after it do not run. An aborted `signal` kills the running
 * step's process group and rejects with the signal's reason within the kill grace (2 s).
 *
 * A step's processes do not outlive it: whatever is left in its process group when it ends
 * (a background job that closed its output) is terminated too.
 */
export async function runSetupSteps(steps: readonly SetupStep[], log: ObservationLog, opts: RunSetupOptions = {}): Promise<SetupStepResult[]> {
  const results: SetupStepResult[] = [];
  for (const step of steps) {
    throwIfAborted(opts.signal);
    const t0 = performance.now();
    const attempts: SetupAttempt[] = [];
    const tries = 1 + Math.max(0, Math.floor(step.retries ?? 0));
    let tail: TailLine[] = [];
    for (let attempt = 1; attempt <= tries; attempt++) {
      if (attempt > 1) await delay(step.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, opts.signal);
      const r = await runAttempt(step, attempt, log, opts);
      opts.onAttempt?.({ step: step.name, command: displayCommand(step.run), attempt: r.attempt, outputLines: r.lines, tail: r.tail.map(showLine) });
      attempts.push(r.attempt);
      tail = r.tail;
      if (r.attempt.outcome === 'ok' || r.attempt.outcome === 'aborted' || r.attempt.startError !== undefined) break;
    }
    const last = attempts[attempts.length - 1]!;
    if (last.outcome === 'aborted') throw abortReason(opts.signal);
    if (last.outcome !== 'ok') throw failure(step, attempts, tail);
    results.push({ name: step.name, attempts, ms: performance.now() - t0 });
  }
  return results;
}

function failure(step: SetupStep, attempts: SetupAttempt[], tail: TailLine[]): SetupStepError {
  const last = attempts[attempts.length - 1]!;
  const n = attempts.length;
  const how = (a: SetupAttempt): string => {
    if (a.startError !== undefined) return `could not start: ${a.startError}`;
    if (a.outcome === 'timeout') return `timed out after ${step.timeoutMs} ms (its process group was killed)`;
    if (a.signal) return `was killed by ${a.signal} after ${a.ms.toFixed(0)} ms`;
    return `exited with code ${a.code} after ${a.ms.toFixed(0)} ms`;
  };
  const short = (a: SetupAttempt): string => (a.startError !== undefined ? 'not started' : a.outcome === 'timeout' ? 'timeout' : a.signal ? a.signal : `exit ${a.code}`);
  const lines = tail.map((l) => `  ${showLine(l)}`);
  const output = lines.length > 0 ? `\nlast ${lines.length} line${lines.length > 1 ? 's' : ''} of its output:\n${lines.join('\n')}` : '\nit printed nothing';
  const message =
    `setup step "${step.name}" failed after ${n} attempt${n > 1 ? 's' : ''}` +
    (n > 1 ? ` (${attempts.map((a) => `${a.attempt}: ${short(a)}`).join(', ')})` : '') +
    `: the last ${how(last)}; command: ${displayCommand(step.run)}` +
    output +
    `\n(every line of every attempt is in the run's observation log: source "setup", kind "output")`;
  return new SetupStepError(
    step.name,
    attempts,
    tail.map((l) => l.text),
    message,
  );
}

/** An output line as failure messages and reports show it: `out| …` or `err| …`. */
function showLine(l: TailLine): string {
  return `${l.stream === 'stderr' ? 'err' : 'out'}| ${l.text}`;
}

interface AttemptRun {
  attempt: SetupAttempt;
  tail: TailLine[];
  /** Lines printed in all. */
  lines: number;
}

type Exit = { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null } | { kind: 'error'; error: Error };

async function runAttempt(step: SetupStep, attempt: number, log: ObservationLog, opts: RunSetupOptions): Promise<AttemptRun> {
  const t0 = performance.now();
  const tail: TailLine[] = [];
  let lines = 0;
  log.record('setup', 'step_start', { step: step.name, attempt, cmd: displayCommand(step.run) });
  const done = (a: Omit<SetupAttempt, 'attempt' | 'ms'>): AttemptRun => {
    const attemptResult: SetupAttempt = { attempt, ms: performance.now() - t0, ...a };
    const fields: Record<string, FieldValue> = { step: step.name, attempt, ms: Math.round(attemptResult.ms), outcome: a.outcome };
    if (a.code !== null) fields.code = a.code;
    if (a.signal !== null) fields.signal = a.signal;
    if (a.startError !== undefined) fields.error = a.startError;
    log.record('setup', 'step_end', fields);
    return { attempt: attemptResult, tail, lines };
  };

  if (opts.signal?.aborted) return done({ code: null, signal: null, outcome: 'aborted' });
  if (step.cwd !== undefined && !isDirectory(step.cwd)) {
    return done({ code: null, signal: null, outcome: 'failed', startError: `its cwd ${step.cwd} is not a directory` });
  }
  const [file, args] = typeof step.run === 'string' ? ['/bin/sh', ['-c', step.run]] : [step.run[0] ?? '', step.run.slice(1)];
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: step.cwd,
      env: step.env ? { ...process.env, ...step.env } : process.env,
      // Its own process group: a timeout or Ctrl-C kills everything the step started.
      detached: true,
      // No stdin: a command that prompts (ssh asking for a password) fails instead of hanging.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    return done({ code: null, signal: null, outcome: 'failed', startError: (error as Error).message });
  }

  const exit = new Promise<Exit>((resolve) => {
    child.once('error', (error) => resolve({ kind: 'error', error }));
    child.once('close', (code, signal) => resolve({ kind: 'exit', code, signal }));
  });
  const onLine = (stream: TailLine['stream'], text: string): void => {
    log.append({ t: log.clock.now(), source: 'setup', kind: 'output', fields: { step: step.name, stream, attempt }, text });
    lines++;
    tail.push({ stream, text });
    if (tail.length > TAIL_LINES) tail.shift();
    opts.onOutput?.(step.name, text);
  };
  if (child.stdout) splitLines(child.stdout, (l) => onLine('stdout', l));
  if (child.stderr) splitLines(child.stderr, (l) => onLine('stderr', l));

  const pid = child.pid;
  if (pid === undefined) {
    // Spawning failed (ENOENT, EACCES): `error` follows.
    const r = await exit;
    return done({ code: null, signal: null, outcome: 'failed', startError: r.kind === 'error' ? startHint(r.error) : 'no process id' });
  }

  const group = new ProcessGroup(pid);
  let ending: 'timeout' | 'aborted' | undefined;
  let stopping: Promise<void> | undefined;
  let onEnd: () => void = () => {};
  const ended = new Promise<'ended'>((resolve) => (onEnd = () => resolve('ended')));
  const end = (why: 'timeout' | 'aborted'): void => {
    if (ending) return;
    ending = why;
    stopping = group.stop();
    onEnd();
  };
  const timer = setTimeout(() => end('timeout'), step.timeoutMs);
  const onAbort = (): void => end('aborted');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // A harness that exits abruptly (a second Ctrl-C, process.exit) takes the step's group with it.
  const onProcessExit = (): void => group.send('SIGKILL');
  process.on('exit', onProcessExit);

  try {
    let r = await Promise.race([exit, ended]);
    if (r === 'ended') {
      await stopping;
      r = await Promise.race([exit, sleep(CLOSE_AFTER_KILL_MS).then(() => 'ended' as const)]);
      if (r === 'ended') {
        // Something outside the group still holds its pipes: stop reading them.
        child.stdout?.destroy();
        child.stderr?.destroy();
        r = { kind: 'exit', code: null, signal: 'SIGKILL' };
      }
    } else {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (group.alive()) {
        // The shell ended but left something running in the group (a background job).
        log.record('setup', 'note', { step: step.name, attempt, what: 'processes left in the step\'s group after it ended; terminating them' });
        await group.stop();
      }
    }
    if (ending === 'aborted') return done({ code: r.kind === 'exit' ? r.code : null, signal: r.kind === 'exit' ? r.signal : null, outcome: 'aborted' });
    if (ending === 'timeout') return done({ code: r.kind === 'exit' ? r.code : null, signal: r.kind === 'exit' ? r.signal : null, outcome: 'timeout' });
    if (r.kind === 'error') return done({ code: null, signal: null, outcome: 'failed', startError: startHint(r.error) });
    return done({ code: r.code, signal: r.signal, outcome: r.code === 0 ? 'ok' : 'failed' });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    process.off('exit', onProcessExit);
  }
}

/** A step's process group: SIGTERM, then SIGKILL after the grace if anything is left. */
class ProcessGroup {
  private termAt: number | undefined;
  private stopping: Promise<void> | undefined;

  constructor(readonly pgid: number) {}

  send(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pgid, sig);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  /** True while a live process is in the group. */
  alive(): boolean {
    try {
      process.kill(-this.pgid, 0);
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    // kill(0) also counts zombies: a killed grandchild stays one until init reaps it, and in a
    // container whose PID 1 never reaps, forever. On Linux, look at the members' states.
    return livingMember(this.pgid) ?? true;
  }

  stop(): Promise<void> {
    this.stopping ??= this.terminate();
    return this.stopping;
  }

  private async terminate(): Promise<void> {
    this.termAt = performance.now();
    this.send('SIGTERM');
    while (this.alive() && performance.now() - this.termAt < KILL_GRACE_MS) await sleep(40);
    if (!this.alive()) return;
    this.send('SIGKILL');
    // SIGKILL cannot be ignored, but the processes take a moment to be gone: resolve when they are.
    const killedAt = performance.now();
    while (this.alive() && performance.now() - killedAt < CLOSE_AFTER_KILL_MS) await sleep(10);
  }
}

/**
 * Whether the group has a member that is not a zombie, from /proc; undefined without /proc.
 */
function livingMember(pgid: number): boolean | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …": comm may contain spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
  }
  return false;
}

/** Split a stream into lines (`\n`, `\r\n` or a lone `\r`, which progress bars use). */
function splitLines(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c === 10 /* \n */) {
        onLine(buf.slice(start, i));
        start = i + 1;
      } else if (c === 13 /* \r */) {
        // A \r at the end of the chunk may be the first half of \r\n: decide with the next chunk.
        if (i === buf.length - 1) break;
        onLine(buf.slice(start, i));
        start = buf.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
        if (start === i + 2) i++;
      }
    }
    buf = buf.slice(start);
    while (buf.length > MAX_LINE) {
      onLine(buf.slice(0, MAX_LINE));
      buf = buf.slice(MAX_LINE);
    }
  });
  stream.on('end', () => {
    const rest = buf.endsWith('\r') ? buf.slice(0, -1) : buf;
    buf = '';
    if (rest.length > 0) onLine(rest);
  });
  stream.on('error', () => {
    // A destroyed pipe (we gave up on it): nothing more to read.
  });
}

function startHint(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${error.message} (is the program installed and on PATH?)`;
  if (code === 'EACCES') return `${error.message} (is it executable?)`;
  return error.message;
}

function displayCommand(run: string | string[]): string {
  if (typeof run === 'string') return run;
  return run.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new Error(reason === undefined ? 'setup aborted' : `setup aborted: ${typeof reason === 'string' ? reason : showFound(reason)}`);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** A pause that an abort ends at once (rejecting). */
function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
