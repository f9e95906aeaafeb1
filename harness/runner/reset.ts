/**
 * Bringing a device to a known state, as labgrid's strategies do: the rig declares how
 * (`reset: { pi: 'power-cycle' }`, or a sequence of presses), a property asks for it before each
 * of its runs, and what it cost is counted so the report can say what a known state costs per run.
 */
import { ConfigError } from '../core/errors.ts';
import { readyExpectation } from '../core/ready.ts';
import { SOURCE } from '../core/topics.ts';
import type { ResetStrategy } from '../rig/types.ts';
import type { RigSession } from './session.ts';

/** One reset: how it was done and how long it took. */
export interface ResetDone {
  device: string;
  /** `power cycle`, `presses`, or `presses, then power cycle` when the presses did not go through. */
  kind: string;
  ms: number;
}

/**
 * The strategy the rig declares for a device; default: a power cycle when it has a power relay.
 * Throws a {@link ConfigError} (a rig matter, never the firmware's) when it has no way at all.
 */
export function resetStrategy(s: Pick<RigSession, 'rig'>, device: string): ResetStrategy {
  const st = s.rig.reset?.[device] ?? (s.rig.power[device] ? 'power-cycle' : undefined);
  if (!st) throw new ConfigError(`rig ${s.rig.name} has no way to bring ${device} to a known state: it has no power relay for it and no reset strategy (reset: { ${device}: 'power-cycle' | { presses: [...] } })`);
  return st;
}

/**
 * Bring `device` to the rig's known state ({@link resetStrategy}) and wait until it is ready for
 * input again.
 */
export async function resetToKnownState(s: RigSession, device: string): Promise<ResetDone> {
  const strategy = resetStrategy(s, device);
  const t0 = Date.now();
  if (strategy === 'power-cycle') {
    // Recovered by a power cycle since anything last reached it (a device that stopped in the run
    // before): that is the known state already, and a second cycle would only cost its off time
    // and boot (0.7 s on the sim's panel, for each failing run of a hang).
    if (freshSinceCycle(s, device)) return { device, kind: 'fresh from a power cycle', ms: 0 };
    await powerCycle(s, device);
    return { device, kind: 'power cycle', ms: Date.now() - t0 };
  }
  try {
    for (const button of strategy.presses) {
      const from = s.log.nextIndex;
      await s.buttons.tapWhenAllowed(button);
      await s.log.waitFor({ topic: `${device}.done`, fields: { btn: button }, describe: `${device} processed ${button} (reset)` }, { within: strategy.withinMs ?? 3000, from });
    }
    return { device, kind: 'presses', ms: Date.now() - t0 };
  } catch (error) {
    // A device that did not take the presses (stopped, say) is not in the known state: power it.
    if (!s.rig.power[device]) throw error;
    await powerCycle(s, device);
    return { device, kind: 'presses, then power cycle', ms: Date.now() - t0 };
  }
}

/** Per session and device: the log index after the device was last ready again after a {@link recoverStopped}. */
const recoveredAt = new WeakMap<object, Map<string, number>>();

/**
 * Whether `device` is ready again after the harness recovered it ({@link recoverStopped}), with
 * nothing since that could have moved it from there: no press, no HTTP request, no power switched
 * for it (a cycle begun through {@link powerCycleUntilReady} also forgets the mark), no violation
 * of the device's. Conservative: a log that no longer holds that span says no.
 */
function freshSinceCycle(s: Pick<RigSession, 'log'>, device: string): boolean {
  const at = recoveredAt.get(s)?.get(device);
  if (at === undefined || at < s.log.windowStart) return false;
  for (const o of s.log.since(at)) {
    if (o.source === SOURCE.buttons || o.source === SOURCE.http) return false;
    const ours = o.fields?.device === undefined || o.fields.device === device;
    if (o.source === SOURCE.power && ours) return false;
    if ((o.source === SOURCE.harness || o.source === SOURCE.invariants) && o.kind === 'violation' && ours) return false;
  }
  return true;
}

async function powerCycle(s: RigSession, device: string): Promise<void> {
  const r = await powerCycleUntilReady(s, device);
  if (!r.ready) throw r.error;
}

/** How a power cycle ended: ready after `ms` (from the cycle's start), or not within `withinMs`. */
export type ReadyAfterCycle = { ready: true; ms: number } | { ready: false; withinMs: number; error: unknown };

/**
 * Power-cycle `device` through its relay (off for the rig's minOffMs) and wait until it says it is
 * ready for input (its `ready` line, or its first heartbeat), within its `bootMs` + `slackMs`
 * (default 5000). The one way the harness, its strategies and the scenarios power a device back
 * to ready. A failing cycle (a refused relay) throws; a device not ready in time is a result, so
 * each caller decides what that means (a reset throws it, a recovery notes it).
 */
export async function powerCycleUntilReady(s: Pick<RigSession, 'rig' | 'log' | 'power'>, device: string, slackMs = 5000): Promise<ReadyAfterCycle> {
  const withinMs = (s.rig.power[device]?.bootMs ?? 10_000) + slackMs;
  const t0 = s.log.clock.now();
  const from = s.log.nextIndex;
  recoveredAt.get(s)?.delete(device);
  await s.power(device).cycle();
  try {
    await s.log.waitFor(readyExpectation(device, s.rig.devices[device]?.ready), { within: withinMs, from });
  } catch (error) {
    return { ready: false, withinMs, error };
  }
  return { ready: true, ms: Number(s.log.clock.now() - t0) / 1e6 };
}

/**
 * A device that stopped (hung, or a thread dead): keep its last lines (they are in the raw log and
 * the report), cut its power through its relay for the rig's minOffMs, and wait for it to say it
 * is ready. Recorded as `harness.recovery` (power cycle, then ready again or not); a device with no
 * power relay is left as it is, and the record says so. `why` says what stopped it, when the
 * caller is not the end of a HUNG test.
 */
export async function recoverStopped(s: Pick<RigSession, 'rig' | 'log' | 'power'>, device: string, why?: string): Promise<void> {
  const spec = s.rig.power[device];
  if (!spec) {
    s.log.record('harness', 'recovery', { device, outcome: 'no power relay on this rig: left as it is' });
    return;
  }
  s.log.record('harness', 'recovery', { device, outcome: 'power cycle', off_ms: spec.minOffMs, ...(why ? { why } : {}) });
  const r = await powerCycleUntilReady(s, device, 10_000);
  if (r.ready) {
    s.log.record('harness', 'recovery', { device, outcome: 'ready again', ms: +r.ms.toFixed(1) });
    const byDevice = recoveredAt.get(s) ?? new Map<string, number>();
    byDevice.set(device, s.log.nextIndex);
    recoveredAt.set(s, byDevice);
  } else s.log.record('harness', 'recovery', { device, outcome: `not ready within ${r.withinMs} ms after the power cycle` });
}

/** Resets made during a property, summed per device and kind, for its note. */
export class ResetCosts {
  private readonly byKind = new Map<string, { n: number; ms: number }>();

  add(r: ResetDone): void {
    const k = `${r.kind} of ${r.device}`;
    const c = this.byKind.get(k) ?? { n: 0, ms: 0 };
    c.n++;
    c.ms += r.ms;
    this.byKind.set(k, c);
  }

  get count(): number {
    let n = 0;
    for (const c of this.byKind.values()) n += c.n;
    return n;
  }

  get totalMs(): number {
    let ms = 0;
    for (const c of this.byKind.values()) ms += c.ms;
    return ms;
  }

  /** `12 power cycle of pi (1.3 s each), 15.6 s = 41 % of the property's 38.0 s`. */
  describe(totalPropertyMs: number): string {
    const parts = [...this.byKind].map(([k, c]) => `${c.n} ${k} (${(c.ms / c.n / 1000).toFixed(1)} s each)`);
    const share = totalPropertyMs > 0 ? ` = ${Math.round((100 * this.totalMs) / totalPropertyMs)} % of its ${(totalPropertyMs / 1000).toFixed(1)} s` : '';
    return `known state before every run: ${parts.join(', ')}; ${(this.totalMs / 1000).toFixed(1)} s${share}`;
  }
}
