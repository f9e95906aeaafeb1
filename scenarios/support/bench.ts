/**
 * Helpers the scenarios share: press and wait for processing, wait for a device to go idle, read
 * the panel state, judge a span of the run by the invariants. Everything waits on the
 * observation log with a deadline; nothing sleeps and hopes.
 */
import type { BurstStep } from '../../harness/core/buttons.ts';
import type { Observation } from '../../harness/core/observation.ts';
import type { WindowResult } from '../../harness/core/invariants/report.ts';
import { session } from '../../harness/runner/context.ts';
import { recoverStopped } from '../../harness/runner/reset.ts';
import type { RigSession } from '../../harness/runner/session.ts';

export type Fields = Readonly<Record<string, string | number>>;

/** Tap a button and wait until the panel has processed it (its `done`); a press it refused (`q_drop`) runs into the deadline. */
export async function tapAndProcess(button: string, withinMs = 3000): Promise<{ done: Observation; from: number }> {
  const s = session();
  const device = s.rig.buttons[button]!.device;
  const from = s.log.nextIndex;
  await s.buttons.tapWhenAllowed(button);
  const m = await s.log.waitFor({ topic: `${device}.done`, fields: { btn: button }, describe: `${device} processed ${button}` }, { within: withinMs, from });
  return { done: s.log.at(m.index)!, from };
}

/** The device's last `state` line at or after `from` (undefined if none). */
export function lastState(device: string, from = 0): Fields | undefined {
  let last: Fields | undefined;
  for (const o of session().log.since(from)) if (o.source === device && o.kind === 'state' && o.fields) last = o.fields;
  return last;
}

/** The panel state as the ESP last heard it over the UART (`GET /api/state`, refreshed every 100 ms). */
export async function panelStateViaEsp(): Promise<Fields> {
  const r = await session().http('esp').request({ path: '/api/state' });
  if (r.status !== 200) throw new Error(`GET /api/state: ${r.status} ${r.error ?? r.body}`);
  const body = JSON.parse(r.body) as { pi: Record<string, string | number> | null };
  if (!body.pi) throw new Error('the ESP has not heard a STATE line from the Pi yet');
  return body.pi;
}

/** What a device said last, kept for the whole run (the log only keeps a window of it). */
interface Latest {
  /** Its last full `state` line since its last boot; undefined: none since the boot. */
  state: Fields | undefined;
}

const latest = new WeakMap<RigSession, Map<string, Latest>>();

/**
 * The device's latest state, followed from the first call on (and, for that call, read back from
 * what the log still holds). A night-long run pushes old lines out of the log's window; reading
 * "the last state line" from the window would then be wrong, this is not. (Its queue depth is
 * the session's: `live.depth`.)
 */
function latestOf(device: string): Latest {
  const s = session();
  let perDevice = latest.get(s);
  if (!perDevice) {
    perDevice = new Map();
    latest.set(s, perDevice);
  }
  // Lines appended but not yet handed to subscribers count too.
  s.log.flush();
  let l = perDevice.get(device);
  if (!l) {
    const seen: Latest = { state: undefined };
    const apply = (o: Observation): void => {
      if (o.kind === 'boot') seen.state = undefined;
      else if (o.kind === 'state' && o.fields) seen.state = { ...o.fields };
    };
    for (const o of s.log.since(0)) if (o.source === device) apply(o);
    s.log.on(`${device}.*`, apply, { name: `scenario helpers: latest ${device}` });
    perDevice.set(device, seen);
    l = seen;
  }
  return l;
}

/**
 * Wait until the device's queue is empty. Without `from`: idle now (its last depth report says 0)
 * or at its next report of depth 0. With `from`: a heartbeat or take saying depth=0 at or after
 * that log index.
 */
export async function waitIdle(device = 'pi', withinMs = 5000, from?: number): Promise<void> {
  const s = session();
  if (from === undefined) {
    // Lines appended but not yet handed to subscribers count too.
    s.log.flush();
    if (s.live.depth.get(device) === 0) return;
    from = s.log.nextIndex;
  }
  await s.log.waitFor(
    { topic: `${device}.*`, where: (o) => (o.kind === 'hb' || o.kind === 'q_get') && Number(o.fields?.depth) === 0, describe: `${device} queue empty` },
    { within: withinMs, from: Math.max(from, s.log.windowStart) },
  );
}

/**
 * Perform a burst and judge it: wait until every press has an outcome (processed, dropped, lost…)
 * or the drain deadline passes, then return the invariants' view of that span. A device seen
 * stopped (a violation of kind `hung`: its heartbeats gone, a thread dead, a take never finished)
 * is power-cycled at once, as the runner does after a HUNG test: it would not recover by itself,
 * and the presses it stranded then end as cut, inside this span, instead of pending until the
 * drain deadline.
 */
export async function burstAndJudge(steps: readonly BurstStep[], drainMs = 6000): Promise<WindowResult> {
  const s = session();
  const mon = s.invariants;
  if (!mon) throw new Error('no invariant monitor: scenarios run under `hil run`');
  const from = s.log.nextIndex;
  await s.buttons.burst(steps);
  const t0 = Date.now();
  const cycled = new Set<string>();
  for (;;) {
    mon.tick();
    const w = mon.window(from);
    const open = w.presses.filter((p) => p.outcome === 'pending').length;
    // Not sooner on the first violation: a device that is about to stop (a deadlock) shows it
    // only when its heartbeats stop, and that is the verdict that matters (HUNG). Not by returning
    // at the first hung violation either: the presses it stranded stay pending while it is stopped,
    // their deadlines fall due over the next seconds, and returned early they can land in the next
    // shrink candidate's span and make an innocent candidate the counterexample (three clean-clone
    // CI failures, the last on 12-02 at 13:37 UTC: a 2-press candidate without REACTOR_START). A
    // device stopped is cut off now instead, and the loop goes on until everything has its end.
    if ((open === 0 && w.presses.length >= steps.length) || Date.now() - t0 > drainMs) return w;
    const stopped = [...new Set(w.violations.filter((v) => v.kind === 'hung' && !cycled.has(v.device)).map((v) => v.device))];
    for (const device of stopped) {
      cycled.add(device);
      await recoverStopped(s, device, 'stopped during a burst');
    }
    if (stopped.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A condition the test needs from the run, not from the firmware: the queue filled up, a link
 * between two devices exists. When it does not hold, that is no firmware failure: the test notes
 * it for the reviewer (console summary, `notes` column, HTML report) and leaves out what depended
 * on it. Returns whether it held.
 *
 * ```ts
 * if (precondition(pi.max_depth === cap, `the queue did not fill (max depth ${pi.max_depth})`)) { … }
 * ```
 */
export function precondition(holds: boolean, unmet: string): boolean {
  if (!holds) session().log.record('harness', 'note', { what: `precondition not met, not judged: ${unmet}` });
  return holds;
}

/** Violations as lines for an assertion message. */
export function describeViolations(w: WindowResult): string {
  return w.violations.map((v) => `${v.invariant} on ${v.device}: ${v.detail}`).join('\n');
}

/**
 * The panel's current state from its own console: every change prints a full `state` line, so
 * the last one since its last boot is the state now (the ESP's copy can be 100 ms behind); none
 * since the boot means the documented initial state.
 */
export function panelState(device = 'pi'): Record<string, string | number> {
  const state = latestOf(device).state;
  return state ? { ...state } : { ...INITIAL_PANEL_STATE };
}

/** Panel firmware v3.3 at boot (its documentation). */
export const INITIAL_PANEL_STATE: Readonly<Record<string, string | number>> = {
  reactor: 0,
  pressure: 100,
  pump_primary: 'OFF',
  pump_secondary: 'OFF',
  pump_tertiary: 'OFF',
  safety_rod: 50,
  shim_rod: 50,
  regulating_rod: 50,
  power: 0,
};
