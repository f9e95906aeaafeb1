/**
 * A rig's preparation steps as the rig file writes them (`setup:`), and their validation. Running
 * them is the runner's (harness/runner/setup-steps.ts).
 */
import { z } from 'zod';
import { expected, problemsOf, showFound } from '../parts/schema.ts';

// How a found value reads in a problem: one formatter for every rig check.
export { showFound };

const STEP_FIELDS = ['name', 'run', 'timeoutMs', 'retries', 'retryDelayMs', 'cwd', 'env'];
const RUN = expected('a shell command string or a non-empty argv array of strings');
const MS_ABOVE_0 = expected('a number of ms > 0');
const MS_AT_LEAST_0 = expected('a number of ms ≥ 0');
const WHOLE_AT_LEAST_0 = expected('a whole number ≥ 0');
const nonBlank = (v: string) => v.trim().length > 0;

/** One preparation step of a rig (the rig's `setup:` list). */
export const setupStepSchema = z.strictObject(
  {
    /** Name in logs and messages (`flash-esp`). Unique within the rig. */
    name: z.string(expected('a non-empty string')).refine(nonBlank, expected('a non-empty string')),
    /**
     * What to run. A string runs through `/bin/sh -c` (pipes, `&&`, variables work); an array is
     * an argv run directly, with no shell (nothing is expanded or split).
     */
    run: z.union([z.string(RUN).refine(nonBlank, RUN), z.array(z.string(RUN), RUN).refine((a) => a.length > 0 && a[0]!.length > 0, RUN)], RUN),
    /** Deadline for one attempt, ms. On expiry the step's process group gets SIGTERM, then SIGKILL 2 s later. */
    timeoutMs: z.number(MS_ABOVE_0).positive(MS_ABOVE_0),
    /** Further attempts after a failed or timed-out one. Default 0. A command that cannot start at all is not retried. */
    retries: z.int(WHOLE_AT_LEAST_0).min(0, WHOLE_AT_LEAST_0).optional(),
    /** Pause before each retry, ms. Default 1000. */
    retryDelayMs: z.number(MS_AT_LEAST_0).min(0, MS_AT_LEAST_0).optional(),
    /** Working directory. Default: the harness's current directory. */
    cwd: z.string(expected('a directory path')).min(1, expected('a directory path')).optional(),
    /** Extra environment variables, added to the harness's own environment. */
    env: z.record(z.string(), z.string(expected('a string')), expected('an object of string values { NAME: "value" }')).optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `no such field (a step has ${STEP_FIELDS.join(', ')})` : 'an object { name, run, timeoutMs, … }') },
);

/** The rig's `setup:` list. */
export const setupStepsSchema = z.array(setupStepSchema, expected('a list of setup steps [{ name, run, timeoutMs, … }]'));

/** One preparation step of a rig (the rig's `setup:` list). */
export type SetupStep = z.input<typeof setupStepSchema>;

/** What the schema cannot say: each step's name is used once. */
export function setupNameProblems(raw: unknown, at = 'setup'): string[] {
  const problems: string[] = [];
  if (!Array.isArray(raw)) return problems;
  const names = new Map<string, string>();
  raw.forEach((s: unknown, i) => {
    const name = typeof s === 'object' && s !== null ? (s as { name?: unknown }).name : undefined;
    if (typeof name !== 'string' || !nonBlank(name)) return;
    const other = names.get(name);
    if (other !== undefined) problems.push(`${at}[${i}].name: expected a name not already used (${other} uses it), found ${showFound(name)}`);
    else names.set(name, `${at}[${i}]`);
  });
  return problems;
}

/**
 * Check a rig's `setup` value. Returns the problems, each naming the path, what was expected and
 * what was found (`setup[1].timeoutMs: expected a number of ms > 0, found "5s"`); empty when valid.
 * `undefined` (a rig without setup steps) is valid.
 */
export function validateSetupSteps(raw: unknown, at = 'setup'): string[] {
  if (raw === undefined) return [];
  const parsed = setupStepsSchema.safeParse(raw, { reportInput: true });
  return [...(parsed.success ? [] : problemsOf(parsed.error, [at])), ...setupNameProblems(raw, at)];
}
