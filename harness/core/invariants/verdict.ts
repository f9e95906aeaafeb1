import type { Verdict, Violation } from './types.ts';

/** How the test body itself ended (as the runner saw it). */
export interface TestOutcome {
  /** The error the test failed with, if any. */
  error?: unknown;
  /** Mocha timed the test out (its error has `code === 'ERR_MOCHA_TIMEOUT'`; either is enough). */
  timedOut?: boolean;
  /** The run was interrupted (Ctrl-C, a bail) while this test ran. */
  interrupted?: boolean;
}

export interface VerdictResult {
  verdict: Verdict;
  /** Why, most important first: one line each. */
  reasons: string[];
}

const RANK: Record<Verdict, number> = { PASS: 0, TIMEOUT: 1, FAIL: 2, HUNG: 3, ERROR: 4, ABORTED: 5 };

/**
 * A test's verdict from its violations and its own outcome. Precedence, strongest first:
 *
 * - `ABORTED` — interrupted: nothing else about it is known.
 * - `ERROR` — the bench misbehaved (a `rig` violation, a test error that is a `RigFault`) or the
 *   test code itself broke (an error that is neither a failed expectation nor an assertion):
 *   the record cannot support a product verdict, and a lost line may explain other violations.
 * - `HUNG` — a device, thread or queue stopped (a `hung` violation). Stronger than FAIL and
 *   TIMEOUT because a hang usually causes both.
 * - `FAIL` — a `firmware` violation, a failed expectation/assertion or a death pattern.
 * - `TIMEOUT` — mocha's timeout with nothing above to explain it.
 * - `PASS`.
 */
export function decideVerdict(violations: readonly Violation[], outcome: TestOutcome = {}): VerdictResult {
  const found: Array<[Verdict, string]> = [];
  if (outcome.interrupted) found.push(['ABORTED', 'the run was interrupted while this test ran']);
  for (const v of violations) {
    const verdict: Verdict = v.kind === 'rig' ? 'ERROR' : v.kind === 'hung' ? 'HUNG' : 'FAIL';
    found.push([verdict, `${v.invariant} on ${v.device}: ${v.detail}`]);
  }
  const e = outcome.error;
  if (e !== undefined && e !== null) {
    const flags = e as { rigFault?: unknown; expectationFailed?: unknown; deathPattern?: unknown; code?: unknown; name?: unknown; message?: unknown };
    const msg = typeof flags.message === 'string' ? flags.message : typeof e === 'string' ? e : JSON.stringify(e);
    if (outcome.timedOut || flags.code === 'ERR_MOCHA_TIMEOUT') found.push(['TIMEOUT', `test timed out: ${msg}`]);
    else if (flags.rigFault === true) found.push(['ERROR', `rig fault: ${msg}`]);
    else if (flags.expectationFailed === true || flags.deathPattern === true || flags.name === 'AssertionError') found.push(['FAIL', msg]);
    else if (flags.name === 'AbortError') found.push(['ABORTED', `aborted: ${msg}`]);
    else found.push(['ERROR', `test error (${typeof flags.name === 'string' ? flags.name : 'non-Error'}): ${msg}`]);
  } else if (outcome.timedOut) {
    found.push(['TIMEOUT', 'test timed out']);
  }
  if (found.length === 0) return { verdict: 'PASS', reasons: [] };
  // Stable sort: strongest verdict first, then in the order found.
  const sorted = found.map((f, k) => ({ f, k })).sort((a, b) => RANK[b.f[0]] - RANK[a.f[0]] || a.k - b.k);
  return { verdict: sorted[0]!.f[0], reasons: sorted.map((s) => s.f[1]) };
}
