import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import type { PortSpec, RigDefinition } from './types.ts';
import { validateSetupSteps } from './setup-steps.ts';

/** Where the rigs shipped with the project live. */
export const RIGS_DIR = fileURLToPath(new URL('../../rigs', import.meta.url));

/** The rig used when none is named. The only place an environment variable picks it. */
export function defaultRigName(): string {
  return process.env.HIL_RIG ?? 'sim-bench';
}

/** Rig names in rigs/ (files that export a rig; helper modules are skipped). */
export function listRigs(): string[] {
  return fs
    .readdirSync(RIGS_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.includes('decoders'))
    .map((f) => f.replace(/\.ts$/, ''));
}

/** Resolve a rig argument (a name in rigs/ or a file path) to a file. */
export function rigFile(nameOrFile: string): string {
  const candidates = nameOrFile.includes('/') || nameOrFile.endsWith('.ts') ? [path.resolve(nameOrFile)] : [path.join(RIGS_DIR, `${nameOrFile}.ts`)];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new ConfigError(`rig ${JSON.stringify(nameOrFile)} not found (looked for ${candidates.join(', ')}); rigs available: ${listRigs().join(', ')}`, nameOrFile);
}

/** Load and check a rig file. Every problem names the file, the field path, what was expected and what was found. */
export async function loadRig(nameOrFile: string): Promise<{ rig: RigDefinition; file: string }> {
  const file = rigFile(nameOrFile);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    const msg = (error as Error).message;
    const hint = /require\(\)|ES Module|Unexpected token 'export'/.test(msg) ? ' (a rig file must live inside the project, e.g. in rigs/, so it loads as an ES module)' : '';
    throw new ConfigError(`${file}: cannot load the rig file: ${msg}${hint}`, file);
  }
  if (!mod.default) throw new ConfigError(`${file}: expected a default export (export default defineRig({...})), found none`, file);
  return { rig: validateRig(mod.default, file), file };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Check a rig definition's shape and cross-references. */
export function validateRig(raw: unknown, file = '(rig)'): RigDefinition {
  const problems: string[] = [];
  const want = (cond: boolean, at: string, expected: string, found: unknown) => {
    if (!cond) problems.push(`${at}: expected ${expected}, found ${JSON.stringify(found) ?? String(found)}`);
    return cond;
  };
  if (!want(isObj(raw), 'rig', 'an object', raw)) throw new ConfigError(`${file}: ${problems.join('; ')}`, file);
  const r = raw as Obj;
  want(typeof r.name === 'string' && r.name.length > 0, 'name', 'a non-empty string', r.name);
  const port = (p: unknown, at: string) => {
    if (!want(isObj(p), at, 'a port spec { byId | serialNumber | path | sim }', p)) return;
    const ps = p as PortSpec;
    want(!!(ps.byId || ps.serialNumber || ps.path || ps.sim), at, 'one of byId, serialNumber, path, sim', p);
    if (ps.sim) want(r.simulated === true, `${at}.sim`, 'sim ports only in a rig with simulated: true', ps.sim);
  };
  const section = (key: string) => {
    const v = r[key];
    want(isObj(v), key, 'an object keyed by name', v);
    return isObj(v) ? v : {};
  };
  const boards = section('boards');
  const devices = section('devices');
  for (const [name, b] of Object.entries(boards)) {
    want(!name.includes('.'), `boards.${name}`, 'a name without dots', name);
    if (want(isObj(b), `boards.${name}`, 'an object', b)) port((b as Obj).port, `boards.${name}.port`);
  }
  for (const [name, d] of Object.entries(devices)) {
    want(!name.includes('.'), `devices.${name}`, 'a name without dots', name);
    if (!want(isObj(d), `devices.${name}`, 'an object', d)) continue;
    port((d as Obj).port, `devices.${name}.port`);
    const ready = (d as Obj).ready;
    if (ready !== undefined) want(ready instanceof RegExp, `devices.${name}.ready`, 'a RegExp matching the line that says the device is ready', ready);
    const q = (d as Obj).queue;
    if (q !== undefined) want(isObj(q) && Number.isInteger((q).capacity) && ((q).capacity as number) > 0, `devices.${name}.queue.capacity`, 'a positive integer', isObj(q) ? (q).capacity : q);
    const tel = (d as Obj).telemetry;
    if (tel !== undefined && want(isObj(tel), `devices.${name}.telemetry`, 'an object { queue?: boolean }', tel)) {
      for (const [k, v] of Object.entries(tel as Obj)) want(k === 'queue' && typeof v === 'boolean', `devices.${name}.telemetry.${k}`, k === 'queue' ? 'true or false' : 'no such setting (telemetry has queue)', v);
    }
  }
  const links = r.links;
  if (links !== undefined && want(Array.isArray(links), 'links', 'a list of { from, to, via? }', links)) {
    (links as unknown[]).forEach((l, k) => {
      if (!want(isObj(l), `links[${k}]`, 'an object { from, to, via? }', l)) return;
      for (const side of ['from', 'to'] as const) want(typeof (l as Obj)[side] === 'string' && ((l as Obj)[side] as string) in devices, `links[${k}].${side}`, `one of the devices (${Object.keys(devices).join(', ')})`, (l as Obj)[side]);
      if ((l as Obj).via !== undefined) want(typeof (l as Obj).via === 'string', `links[${k}].via`, 'a string', (l as Obj).via);
    });
  }
  const pinOf = (at: string, v: Obj) => {
    want(typeof v.board === 'string' && v.board in boards, `${at}.board`, `one of the boards (${Object.keys(boards).join(', ')})`, v.board);
    want(Number.isInteger(v.pin) && (v.pin as number) >= 0 && (v.pin as number) <= 69, `${at}.pin`, 'a pin number 0–69', v.pin);
    want(typeof v.activeLow === 'boolean', `${at}.activeLow`, 'true or false (relay module input polarity)', v.activeLow);
  };
  const used = new Map<string, string>();
  const claim = (at: string, v: Obj) => {
    const k = `${String(v.board)}:${String(v.pin)}`;
    const other = used.get(k);
    want(!other, at, `a pin not already used (${other} uses ${k})`, k);
    used.set(k, at);
  };
  for (const [name, b] of Object.entries(section('buttons'))) {
    const at = `buttons.${name}`;
    if (!want(isObj(b), at, 'an object', b)) continue;
    pinOf(at, b as Obj);
    claim(at, b as Obj);
    want(typeof (b as Obj).device === 'string' && ((b as Obj).device as string) in devices, `${at}.device`, `one of the devices (${Object.keys(devices).join(', ')})`, (b as Obj).device);
    want(Number.isInteger((b as Obj).gpio), `${at}.gpio`, 'the device GPIO number (BCM on the Pi)', (b as Obj).gpio);
  }
  for (const [name, p] of Object.entries(section('power'))) {
    const at = `power.${name}`;
    if (!want(isObj(p), at, 'an object', p)) continue;
    want(name in devices, at, `a device name (${Object.keys(devices).join(', ')})`, name);
    pinOf(at, p as Obj);
    claim(at, p as Obj);
    want((p as Obj).contact === 'NO' || (p as Obj).contact === 'NC', `${at}.contact`, '"NO" or "NC"', (p as Obj).contact);
    for (const k of ['minOffMs', 'bootMs']) want(typeof (p as Obj)[k] === 'number' && ((p as Obj)[k] as number) >= 0, `${at}.${k}`, 'a number of ms ≥ 0', (p as Obj)[k]);
  }
  const lim = r.limits;
  if (want(isObj(lim), 'limits', 'an object { minHoldMs, minGapMs, maxPressesPerSec }', lim)) {
    for (const k of ['minHoldMs', 'minGapMs', 'maxPressesPerSec']) want(typeof (lim as Obj)[k] === 'number' && ((lim as Obj)[k] as number) > 0, `limits.${k}`, 'a positive number', (lim as Obj)[k]);
  }
  const reset = r.reset;
  if (reset !== undefined && want(isObj(reset), 'reset', "an object keyed by device: 'power-cycle' | { presses: [buttons], withinMs? }", reset)) {
    const buttonNames = Object.keys(isObj(r.buttons) ? r.buttons : {});
    for (const [dev, st] of Object.entries(reset as Obj)) {
      const at = `reset.${dev}`;
      want(dev in devices, at, `a device name (${Object.keys(devices).join(', ')})`, dev);
      if (st === 'power-cycle') {
        want(isObj(r.power) && dev in r.power, at, `a power relay for ${dev} in power (a power cycle needs one)`, st);
        continue;
      }
      if (!want(isObj(st) && Array.isArray((st).presses) && ((st).presses as unknown[]).length > 0, at, "'power-cycle' or { presses: [buttons…], withinMs? }", st)) continue;
      for (const b of (st as Obj).presses as unknown[]) want(typeof b === 'string' && buttonNames.includes(b), `${at}.presses`, `button names of this rig`, b);
      const w = (st as Obj).withinMs;
      if (w !== undefined) want(typeof w === 'number' && w > 0, `${at}.withinMs`, 'a number of ms > 0', w);
    }
  }
  problems.push(...validateSetupSteps(r.setup));
  const props = r.properties;
  if (props !== undefined && want(isObj(props), 'properties', 'an object { runs?, budgetMs? }', props)) {
    const pr = props as Obj;
    for (const k of Object.keys(pr)) want(k === 'runs' || k === 'budgetMs', `properties.${k}`, 'no such setting (properties has runs, budgetMs)', pr[k]);
    if (pr.runs !== undefined) want(Number.isInteger(pr.runs) && (pr.runs as number) >= 1, 'properties.runs', 'a whole number ≥ 1', pr.runs);
    if (pr.budgetMs !== undefined) want(typeof pr.budgetMs === 'number' && Number.isFinite(pr.budgetMs) && pr.budgetMs > 0, 'properties.budgetMs', 'a number of ms > 0', pr.budgetMs);
  }
  if (problems.length > 0) throw new ConfigError(`${file}: the rig definition has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`, file);
  return raw as RigDefinition;
}
