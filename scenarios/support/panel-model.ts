/**
 * A model of the control panel's logic (panel firmware v3.3), as its documentation describes it:
 * what each button does to the reactor, pressure, pumps and rods. Model-based tests compare it
 * with the panel's own `state` lines. Times are host milliseconds.
 */
export type PumpState = 'OFF' | 'STARTING' | 'ON' | 'STOPPING';
export const PUMPS = ['primary', 'secondary', 'tertiary'] as const;
export const RODS = ['safety', 'shim', 'regulating'] as const;
export const PUMP_START_MS = 2000;
export const PUMP_STOP_MS = 1000;
export const PRESSURE_MIN = 0;
export const PRESSURE_MAX = 200;

export interface PanelState {
  reactor: 0 | 1;
  pressure: number;
  pumps: Record<(typeof PUMPS)[number], { state: PumpState; since: number }>;
  rods: Record<(typeof RODS)[number], number>;
}

export function initialPanelState(): PanelState {
  return {
    reactor: 0,
    pressure: 100,
    pumps: { primary: { state: 'OFF', since: 0 }, secondary: { state: 'OFF', since: 0 }, tertiary: { state: 'OFF', since: 0 } },
    rods: { safety: 50, shim: 50, regulating: 50 },
  };
}

/** The model from a device snapshot (`state` line fields or the ESP's copy of them). */
export function panelStateFrom(f: Readonly<Record<string, string | number>>, nowMs: number): PanelState {
  const s = initialPanelState();
  s.reactor = Number(f.reactor) === 1 ? 1 : 0;
  s.pressure = Number(f.pressure);
  for (const p of PUMPS) s.pumps[p] = { state: String(f[`pump_${p}`]) as PumpState, since: nowMs };
  for (const r of RODS) s.rods[r] = Number(f[`${r}_rod`]);
  return s;
}

/** Pump transitions due by `nowMs`. */
export function advance(s: PanelState, nowMs: number): void {
  for (const p of PUMPS) {
    const x = s.pumps[p];
    if (x.state === 'STARTING' && nowMs - x.since >= PUMP_START_MS) s.pumps[p] = { state: 'ON', since: x.since + PUMP_START_MS };
    if (x.state === 'STOPPING' && nowMs - x.since >= PUMP_STOP_MS) s.pumps[p] = { state: 'OFF', since: x.since + PUMP_STOP_MS };
  }
}

/** Apply one processed button at `nowMs`. Returns whether the state changed. */
export function applyButton(s: PanelState, button: string, nowMs: number): boolean {
  advance(s, nowMs);
  if (button === 'REACTOR_START') {
    if (s.reactor === 1) return false;
    s.reactor = 1;
    return true;
  }
  if (s.reactor !== 1) return false; // "Reactor not started!"
  if (button === 'REACTOR_STOP') {
    s.reactor = 0;
    return true;
  }
  if (button === 'EMERGENCY') {
    for (const r of RODS) s.rods[r] = 0;
    s.reactor = 0;
    return true;
  }
  if (button === 'PRESSURE_UP' || button === 'PRESSURE_DOWN') {
    const before = s.pressure;
    s.pressure = Math.min(PRESSURE_MAX, Math.max(PRESSURE_MIN, before + (button === 'PRESSURE_UP' ? 5 : -5)));
    return s.pressure !== before;
  }
  const pump = /^PUMP_(PRIMARY|SECONDARY|TERTIARY)_(ON|OFF)$/.exec(button);
  if (pump) {
    const p = pump[1]!.toLowerCase() as (typeof PUMPS)[number];
    const st = s.pumps[p].state;
    if (pump[2] === 'ON') {
      if (st === 'STARTING' || st === 'ON') return false;
      s.pumps[p] = { state: 'STARTING', since: nowMs };
    } else {
      if (st === 'STOPPING' || st === 'OFF') return false;
      s.pumps[p] = { state: 'STOPPING', since: nowMs };
    }
    return true;
  }
  const rod = /^(SAFETY|SHIM|REGULATING)_ROD_(UP|DOWN)$/.exec(button);
  if (rod) {
    const r = rod[1]!.toLowerCase() as (typeof RODS)[number];
    const before = s.rods[r];
    s.rods[r] = Math.min(100, Math.max(0, before + (rod[2] === 'UP' ? 5 : -5)));
    return s.rods[r] !== before;
  }
  return false;
}

/**
 * Differences between the model and a device snapshot taken at `nowMs`. A pump within
 * `slackMs` of a transition may show either side of it (the device's control loop ticks).
 */
export function diffState(model: PanelState, f: Readonly<Record<string, string | number>>, nowMs: number, slackMs = 400): string[] {
  const out: string[] = [];
  if (Number(f.reactor) !== model.reactor) out.push(`reactor: model ${model.reactor}, device ${String(f.reactor)}`);
  if (Number(f.pressure) !== model.pressure) out.push(`pressure: model ${model.pressure}, device ${String(f.pressure)}`);
  for (const r of RODS) if (Number(f[`${r}_rod`]) !== model.rods[r]) out.push(`${r}_rod: model ${model.rods[r]}, device ${String(f[`${r}_rod`])}`);
  for (const p of PUMPS) {
    const got = String(f[`pump_${p}`]);
    const early = structuredClone(model);
    const late = structuredClone(model);
    advance(early, nowMs - slackMs);
    advance(late, nowMs + slackMs);
    const ok = new Set([early.pumps[p].state, late.pumps[p].state]);
    if (!ok.has(got as PumpState)) out.push(`pump_${p}: model ${[...ok].join(' or ')}, device ${got}`);
  }
  return out;
}

/** Any pump mid-transition (a start or stop still running)? */
export function pumpsSettled(f: Readonly<Record<string, string | number>>): boolean {
  return PUMPS.every((p) => f[`pump_${p}`] === 'OFF' || f[`pump_${p}`] === 'ON');
}
