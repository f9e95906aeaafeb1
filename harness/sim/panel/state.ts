// The panel's process state, kept in shared memory and only touched under the state lock.
import type { ButtonName } from '../../devices/panel.ts';
import { C, type PanelMemory } from './shared.ts';

export const PUMPS = ['primary', 'secondary', 'tertiary'] as const;
export const RODS = ['safety', 'shim', 'regulating'] as const;
export const PUMP_STATES = ['OFF', 'STARTING', 'ON', 'STOPPING'] as const;
const [OFF, STARTING, ON, STOPPING] = [0, 1, 2, 3];

export const PRESSURE_START = 100;
export const PRESSURE_MIN = 0;
export const PRESSURE_MAX = 200;
export const PRESSURE_STEP = 5;
export const ROD_START = 50;
export const ROD_STEP = 5;
export const PUMP_START_NS = 2_000_000_000n;
export const PUMP_STOP_NS = 1_000_000_000n;

const cap = (s: string): string => s[0]!.toUpperCase() + s.slice(1);

export function initState(mem: PanelMemory): void {
  const c = mem.ctl;
  c[C.REACTOR] = 0;
  c[C.PRESSURE] = PRESSURE_START;
  for (let i = 0; i < 3; i++) {
    c[C.PUMP0 + i] = OFF;
    c[C.ROD0 + i] = ROD_START;
    mem.pumpSince[i] = 0n;
  }
  c[C.POWER] = 0;
}

/**
 * Derived power output, % of rated thermal power (integer 0..100): 0 while the reactor is
 * stopped; otherwise the weighted rod withdrawal (safety 20 %, shim 30 %, regulating 50 %) scaled
 * by the cooling available, 0.4 with no pump ON plus 0.2 per pump ON (STARTING/STOPPING pumps do
 * not count). Start-up defaults (rods 50 %, no pumps) give 20; all pumps ON gives 50.
 */
export function derivePower(mem: PanelMemory): number {
  const c = mem.ctl;
  if (c[C.REACTOR] !== 1) return 0;
  const rods = 0.2 * c[C.ROD0]! + 0.3 * c[C.ROD0 + 1]! + 0.5 * c[C.ROD0 + 2]!;
  let pumpsOn = 0;
  for (let i = 0; i < 3; i++) if (c[C.PUMP0 + i] === ON) pumpsOn++;
  return Math.round(rods * (0.4 + 0.2 * pumpsOn));
}

/** The state as `key=value` fields, in the order of the `HIL state` and UART `STATE` lines. */
export function stateFields(mem: PanelMemory): Record<string, string | number> {
  const c = mem.ctl;
  const f: Record<string, string | number> = { reactor: c[C.REACTOR]!, pressure: c[C.PRESSURE]! };
  PUMPS.forEach((p, i) => (f[`pump_${p}`] = PUMP_STATES[c[C.PUMP0 + i]!]!));
  RODS.forEach((r, i) => (f[`${r}_rod`] = c[C.ROD0 + i]!));
  f.power = c[C.POWER]!;
  return f;
}

/** Outcome of one button event. */
export interface ApplyResult {
  /** Free-form console lines. */
  lines: string[];
  /** `HIL warn msg=` text, if any. */
  warn?: string;
  /** True if the state changed (a `HIL state` line follows). */
  changed: boolean;
  /** Set when the event raised in the firmware (stuck-processor fault). */
  crash?: string[];
}

/** Apply a button under the state lock. `crashOnEmergencyWhileStarting` is the stuck-processor bug. */
export function applyButton(mem: PanelMemory, btn: ButtonName, now: bigint, crashOnEmergencyWhileStarting: boolean): ApplyResult {
  const c = mem.ctl;
  if (btn === 'REACTOR_START') {
    if (c[C.REACTOR] === 1) return { lines: ['ℹ️  Reactor already running'], changed: false };
    c[C.REACTOR] = 1;
    return { lines: ['✓ Reactor started'], changed: true };
  }
  if (c[C.REACTOR] !== 1) return { lines: ['⚠️  Reactor not started!'], warn: 'reactor not started', changed: false };
  switch (btn) {
    case 'REACTOR_STOP':
      c[C.REACTOR] = 0;
      return { lines: ['✓ Reactor stopped'], changed: true };
    case 'EMERGENCY': {
      if (crashOnEmergencyWhileStarting) {
        for (let i = 0; i < 3; i++) if (c[C.PUMP0 + i] === STARTING) return { lines: [], changed: false, crash: traceback() };
      }
      for (let i = 0; i < 3; i++) c[C.ROD0 + i] = 0;
      c[C.REACTOR] = 0;
      return { lines: ['🚨 EMERGENCY SHUTDOWN: all rods inserted, reactor stopped'], changed: true };
    }
    case 'PRESSURE_UP':
    case 'PRESSURE_DOWN': {
      const before = c[C.PRESSURE]!;
      const want = before + (btn === 'PRESSURE_UP' ? PRESSURE_STEP : -PRESSURE_STEP);
      const p = Math.min(PRESSURE_MAX, Math.max(PRESSURE_MIN, want));
      c[C.PRESSURE] = p;
      return { lines: [`✓ Pressure: ${p.toFixed(1)} bar${p !== want ? ' (limit)' : ''}`], changed: p !== before };
    }
    default:
      break;
  }
  const pump = /^PUMP_(PRIMARY|SECONDARY|TERTIARY)_(ON|OFF)$/.exec(btn);
  if (pump) {
    const i = PUMPS.indexOf(pump[1]!.toLowerCase() as (typeof PUMPS)[number]);
    const name = `${cap(PUMPS[i]!)} pump`;
    const s = c[C.PUMP0 + i]!;
    if (pump[2] === 'ON') {
      if (s === STARTING || s === ON) return { lines: [`ℹ️  ${name} already ${PUMP_STATES[s]}`], changed: false };
      c[C.PUMP0 + i] = STARTING;
      mem.pumpSince[i] = now;
      return { lines: [`✓ ${name} starting`], changed: true };
    }
    if (s === STOPPING || s === OFF) return { lines: [`ℹ️  ${name} already ${PUMP_STATES[s]}`], changed: false };
    c[C.PUMP0 + i] = STOPPING;
    mem.pumpSince[i] = now;
    return { lines: [`✓ ${name} stopping`], changed: true };
  }
  const rod = /^(SAFETY|SHIM|REGULATING)_ROD_(UP|DOWN)$/.exec(btn);
  if (rod) {
    const i = RODS.indexOf(rod[1]!.toLowerCase() as (typeof RODS)[number]);
    const before = c[C.ROD0 + i]!;
    const v = Math.min(100, Math.max(0, before + (rod[2] === 'UP' ? ROD_STEP : -ROD_STEP)));
    c[C.ROD0 + i] = v;
    return { lines: [`✓ ${cap(RODS[i]!)} rod: ${v}%`], changed: v !== before };
  }
  return { lines: [`⚠️  Unknown button ${btn}`], warn: `unknown button ${btn}`, changed: false };
}

/** One control-logic tick under the state lock: pump transitions and derived power. */
export function controlTick(mem: PanelMemory, now: bigint): { lines: string[]; changed: boolean } {
  const c = mem.ctl;
  const lines: string[] = [];
  let changed = false;
  for (let i = 0; i < 3; i++) {
    const s = c[C.PUMP0 + i];
    const since = mem.pumpSince[i]!;
    if (s === STARTING && now - since >= PUMP_START_NS) {
      c[C.PUMP0 + i] = ON;
      lines.push(`✓ ${cap(PUMPS[i]!)} pump ON`);
      changed = true;
    } else if (s === STOPPING && now - since >= PUMP_STOP_NS) {
      c[C.PUMP0 + i] = OFF;
      lines.push(`✓ ${cap(PUMPS[i]!)} pump OFF`);
      changed = true;
    }
  }
  const power = derivePower(mem);
  if (power !== c[C.POWER]) {
    c[C.POWER] = power;
    lines.push(`✓ Power output: ${power}%`);
    changed = true;
  }
  return { lines, changed };
}

/** What CPython prints when the processor thread dies in the EMERGENCY handler. */
function traceback(): string[] {
  return [
    'Exception in thread EventProcessor:',
    'Traceback (most recent call last):',
    '  File "/usr/lib/python3.11/threading.py", line 1045, in _bootstrap_inner',
    '    self.run()',
    '  File "/usr/lib/python3.11/threading.py", line 982, in run',
    '    self._target(*self._args, **self._kwargs)',
    '  File "/home/pi/panel/panel.py", line 412, in event_processor',
    '    self.handle_event(event)',
    '  File "/home/pi/panel/panel.py", line 287, in handle_event',
    '    self.emergency_shutdown()',
    '  File "/home/pi/panel/panel.py", line 341, in emergency_shutdown',
    '    self.pump_timers[pump].cancel()',
    "AttributeError: 'NoneType' object has no attribute 'cancel'",
  ];
}
