import { spawn } from 'node:child_process';
import { RigFault } from '../core/errors.ts';
import type { ObservationLog } from '../core/observation-log.ts';

/**
 * A bench preparation step a rig declares: an external command run before the scenarios (flash
 * the ESP, copy the panel firmware to the Pi and restart its service, …).
 */
export interface SetupStep {
  name: string;
  /** A string runs through `/bin/sh -c`; an array is argv, no shell. */
  run: string | string[];
  /** Kill the step (its whole process group) after this long, ms. */
  timeoutMs: number;
  /** Attempts after the first. Default 0. */
  retries?: number;
  /** Pause between attempts, ms. Default 1000. */
  retryDelayMs?: number;
  cwd?: string;
  env?: Record<string, string>;
}

export interface SetupStepResult {
  name: string;
  attempts: number;
  ms: number;
}

/** A step that still failed after its retries: a bench problem, never a firmware failure. */
export class SetupStepError extends RigFault {
  constructor(
    message: string,
    readonly step: string,
    readonly output: string[],
  ) {
    super(message, `setup:${step}`);
  }
}

/** Problems with a rig's `setup` list, in the style of the rig loader ("setup[1].timeoutMs: expected …"). */
export function validateSetupSteps(raw: unknown, at = 'setup'): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return [`${at}: expected a list of steps, found ${JSON.stringify(raw)}`];
  const problems: string[] = [];
  raw.forEach((s: unknown, i) => {
    const p = `${at}[${i}]`;
    if (typeof s !== 'object' || s === null) {
      problems.push(`${p}: expected a step { name, run, timeoutMs }, found ${JSON.stringify(s)}`);
      return;
    }
    const o = s as Record<string, unknown>;
    if (typeof o.name !== 'string' || o.name === '') problems.push(`${p}.name: expected a non-empty string, found ${JSON.stringify(o.name)}`);
    const runOk = (typeof o.run === 'string' && o.run.trim() !== '') || (Array.isArray(o.run) && o.run.length > 0 && o.run.every((x) => typeof x === 'string'));
    if (!runOk) problems.push(`${p}.run: expected a shell command string or an argv list of strings, found ${JSON.stringify(o.run)}`);
    if (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0)) problems.push(`${p}.timeoutMs: expected a number of ms > 0, found ${JSON.stringify(o.timeoutMs)}`);
    if (o.retries !== undefined && !(Number.isInteger(o.retries) && (o.retries as number) >= 0)) problems.push(`${p}.retries: expected a whole number ≥ 0, found ${JSON.stringify(o.retries)}`);
  });
  return problems;
}

interface Attempt {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
}

/**
 * Run the steps in order. Each attempt's output goes into the log line by line as it arrives
 * (`setup.output`, fields step/stream/attempt), with `setup.step_start` / `setup.step_end`. A step
 * that times out has its whole process group killed (SIGTERM, SIGKILL 2 s later). A step that still
 * fails after its retries throws a {@link SetupStepError} with its last lines; later steps do not
 * run. An aborted signal (Ctrl-C) kills the running step and rejects at once.
 */
export async function runSetupSteps(steps: readonly SetupStep[], log: ObservationLog, opts: { signal?: AbortSignal; onOutput?: (step: string, line: string) => void } = {}): Promise<SetupStepResult[]> {
  const results: SetupStepResult[] = [];
  for (const step of steps) {
    const tries = 1 + (step.retries ?? 0);
    const tail: string[] = [];
    let last: Attempt | undefined;
    const t0 = Date.now();
    for (let attempt = 1; attempt <= tries; attempt++) {
      if (opts.signal?.aborted) throw new SetupStepError(`setup step "${step.name}" not run: the run was interrupted`, step.name, tail);
      log.record('setup', 'step_start', { step: step.name, attempt });
      last = await runOnce(step, attempt, log, tail, opts);
      const outcome = last.timedOut ? 'timeout' : last.code === 0 ? 'ok' : 'failed';
      log.record('setup', 'step_end', { step: step.name, attempt, code: last.code ?? -1, signal: last.signal ?? '', ms: Math.round(last.ms), outcome });
      if (opts.signal?.aborted) throw new SetupStepError(`setup step "${step.name}" interrupted`, step.name, tail);
      if (outcome === 'ok') break;
      if (attempt < tries) await new Promise((r) => setTimeout(r, step.retryDelayMs ?? 1000));
    }
    if (!last || last.timedOut || last.code !== 0) {
      const why = last?.timedOut ? `timed out after ${step.timeoutMs} ms` : last?.signal ? `was killed by ${last.signal}` : `exited with code ${String(last?.code)}`;
      throw new SetupStepError(
        `bench preparation failed: step "${step.name}" ${why} (${tries} attempt${tries > 1 ? 's' : ''}). Last output:\n  ${tail.slice(-20).join('\n  ') || '(nothing)'}`,
        step.name,
        tail.slice(-20),
      );
    }
    results.push({ name: step.name, attempts: tries, ms: Date.now() - t0 });
  }
  return results;
}

function runOnce(step: SetupStep, attempt: number, log: ObservationLog, tail: string[], opts: { signal?: AbortSignal; onOutput?: (step: string, line: string) => void }): Promise<Attempt> {
  const t0 = performance.now();
  const [cmd, args] = typeof step.run === 'string' ? ['/bin/sh', ['-c', step.run]] : [step.run[0]!, step.run.slice(1)];
  return new Promise<Attempt>((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { cwd: step.cwd, env: { ...process.env, ...step.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (e) {
      tail.push(`cannot start: ${(e as Error).message}`);
      resolve({ code: 127, signal: null, timedOut: false, ms: 0 });
      return;
    }
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (): void => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      killTimer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 2000);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, step.timeoutMs);
    const onAbort = (): void => killGroup();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (s: string) => {
        const parts = (partial + s).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) emit(line, name);
      });
      stream.on('end', () => {
        if (partial) emit(partial, name);
        partial = '';
      });
    }
    function emit(line: string, stream: string): void {
      const text = line.replace(/\r$/, '');
      tail.push(text);
      if (tail.length > 200) tail.splice(0, tail.length - 200);
      log.record('setup', 'output', { step: step.name, stream, attempt }, text);
      opts.onOutput?.(step.name, text);
    }
    child.on('error', (e) => tail.push(`cannot start ${cmd}: ${e.message}`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, timedOut, ms: performance.now() - t0 });
    });
  });
}
