/**
 * A rig's preparation steps as the rig file writes them (`setup:`), and their validation. Running
 * them is the runner's (harness/runner/setup-steps.ts).
 */
import { showFound } from '../parts/schema.ts';

// How a found value reads in a problem: one formatter for every rig check.
export { showFound };

/** One preparation step of a rig (the rig's `setup:` list). */
export interface SetupStep {
  /** Name in logs and messages (`flash-esp`). Unique within the rig. */
  name: string;
  /**
   * What to run. A string runs through `/bin/sh -c` (pipes, `&&`, variables work); an array is
   * an argv run directly, with no shell (nothing is expanded or split).
   */
  run: string | string[];
  /** Deadline for one attempt, ms. On expiry the step's process group gets SIGTERM, then SIGKILL 2 s later. */
  timeoutMs: number;
  /** Further attempts after a failed or timed-out one. Default 0. A command that cannot start at all is not retried. */
  retries?: number;
  /** Pause before each retry, ms. Default 1000. */
  retryDelayMs?: number;
  /** Working directory. Default: the harness's current directory. */
  cwd?: string;
  /** Extra environment variables, added to the harness's own environment. */
  env?: Record<string, string>;
}

const STEP_FIELDS = ['name', 'run', 'timeoutMs', 'retries', 'retryDelayMs', 'cwd', 'env'];

/**
 * Check a rig's `setup` value. Returns the problems, each naming the path, what was expected and
 * what was found (`setup[1].timeoutMs: expected a number of ms > 0, found "5s"`); empty when valid.
 * `undefined` (a rig without setup steps) is valid.
 */
export function validateSetupSteps(raw: unknown, at = 'setup'): string[] {
  const problems: string[] = [];
  if (raw === undefined) return problems;
  const want = (cond: boolean, where: string, expected: string, found: unknown): boolean => {
    if (!cond) problems.push(`${where}: expected ${expected}, found ${showFound(found)}`);
    return cond;
  };
  if (!want(Array.isArray(raw), at, 'a list of setup steps [{ name, run, timeoutMs, … }]', raw)) return problems;
  const names = new Map<string, string>();
  (raw as unknown[]).forEach((s, i) => {
    const p = `${at}[${i}]`;
    if (!want(typeof s === 'object' && s !== null && !Array.isArray(s), p, 'an object { name, run, timeoutMs, … }', s)) return;
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      want(STEP_FIELDS.includes(k), `${p}.${k}`, `no such field (a step has ${STEP_FIELDS.join(', ')})`, o[k]);
    }
    if (want(typeof o.name === 'string' && o.name.trim().length > 0, `${p}.name`, 'a non-empty string', o.name)) {
      const other = names.get(o.name as string);
      want(other === undefined, `${p}.name`, `a name not already used (${other} uses it)`, o.name);
      names.set(o.name as string, p);
    }
    const run = o.run;
    want(
      (typeof run === 'string' && run.trim().length > 0) || (Array.isArray(run) && run.length > 0 && run.every((a) => typeof a === 'string') && (run[0] as string).length > 0),
      `${p}.run`,
      'a shell command string or a non-empty argv array of strings',
      run,
    );
    want(typeof o.timeoutMs === 'number' && Number.isFinite(o.timeoutMs) && o.timeoutMs > 0, `${p}.timeoutMs`, 'a number of ms > 0', o.timeoutMs);
    if (o.retries !== undefined) want(Number.isInteger(o.retries) && (o.retries as number) >= 0, `${p}.retries`, 'a whole number ≥ 0', o.retries);
    if (o.retryDelayMs !== undefined) want(typeof o.retryDelayMs === 'number' && Number.isFinite(o.retryDelayMs) && o.retryDelayMs >= 0, `${p}.retryDelayMs`, 'a number of ms ≥ 0', o.retryDelayMs);
    if (o.cwd !== undefined) want(typeof o.cwd === 'string' && o.cwd.length > 0, `${p}.cwd`, 'a directory path', o.cwd);
    if (o.env !== undefined) {
      const env = o.env;
      if (want(typeof env === 'object' && env !== null && !Array.isArray(env), `${p}.env`, 'an object of string values { NAME: "value" }', env)) {
        for (const [k, v] of Object.entries(env as Record<string, unknown>)) want(typeof v === 'string', `${p}.env.${k}`, 'a string', v);
      }
    }
  });
  return problems;
}
