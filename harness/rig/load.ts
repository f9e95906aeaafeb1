import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import { boardKind } from '../parts/registry.ts';
import { problemsOf, showFound } from '../parts/schema.ts';
import { rigSchema } from './schema.ts';
import type { RigDefinition } from './types.ts';
import { setupNameProblems } from './setup-steps.ts';

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

/**
 * Check a rig definition: its shape against the schema (harness/rig/schema.ts, with each part's
 * fields from its kind), then what a schema cannot say (names that refer to each other, a relay
 * output used twice, sim ports on a real rig). Every problem is listed, each with the field path,
 * what was expected and what was found.
 */
export function validateRig(raw: unknown, file = '(rig)'): RigDefinition {
  const parsed = rigSchema.safeParse(raw, { reportInput: true });
  const problems = parsed.success ? [] : problemsOf(parsed.error);
  if (!isObj(raw)) throw new ConfigError(`${file}: ${problems.join('; ')}`, file);
  problems.push(...crossReferences(raw));
  if (problems.length > 0) throw new ConfigError(`${file}: the rig definition has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`, file);
  return raw as RigDefinition;
}

/**
 * What the schema cannot check: fields that name other parts of the rig. Reads the raw value
 * defensively (a field of the wrong type is the schema's problem, reported once, there).
 */
function crossReferences(r: Obj): string[] {
  const problems: string[] = [];
  const want = (cond: boolean, at: string, expected: string, found: unknown) => {
    if (!cond) problems.push(`${at}: expected ${expected}, found ${showFound(found)}`);
    return cond;
  };
  const section = (key: string): Obj => (isObj(r[key]) ? r[key] : {});
  const boards = section('boards');
  const devices = section('devices');
  const buttons = section('buttons');
  const power = section('power');
  const isString = (v: unknown): v is string => typeof v === 'string';
  const simPort = (p: unknown, at: string) => {
    if (isObj(p) && p.sim) want(r.simulated === true, `${at}.sim`, 'sim ports only in a rig with simulated: true', p.sim);
  };
  for (const [name, b] of Object.entries(boards)) {
    want(!name.includes('.'), `boards.${name}`, 'a name without dots', name);
    if (isObj(b)) simPort(b.port, `boards.${name}.port`);
  }
  for (const [name, d] of Object.entries(devices)) {
    want(!name.includes('.'), `devices.${name}`, 'a name without dots', name);
    if (isObj(d)) simPort(d.port, `devices.${name}.port`);
  }
  const deviceNames = Object.keys(devices).join(', ');
  if (Array.isArray(r.links)) {
    r.links.forEach((l: unknown, k) => {
      if (!isObj(l)) return;
      for (const side of ['from', 'to'] as const) if (isString(l[side])) want(l[side] in devices, `links[${k}].${side}`, `one of the devices (${deviceNames})`, l[side]);
    });
  }
  // A channel's board exists, its output is one that board's kind has, and no output is used twice.
  const used = new Map<string, string>();
  const channel = (where: [string, string], v: Obj) => {
    const at = where.join('.');
    if (isString(v.board)) want(v.board in boards, `${at}.board`, `one of the boards (${Object.keys(boards).join(', ')})`, v.board);
    if (Number.isInteger(v.pin) && (v.pin as number) >= 0) {
      const spec = isString(v.board) ? boards[v.board] : undefined;
      const kind = boardKind(isObj(spec) ? spec : undefined) ?? boardKind(undefined)!;
      const pin = kind.output.safeParse(v.pin, { reportInput: true });
      if (!pin.success) problems.push(...problemsOf(pin.error, [...where, 'pin']));
    }
    const k = `${String(v.board)}:${String(v.pin)}`;
    const other = used.get(k);
    want(!other, at, `a pin not already used (${other} uses ${k})`, k);
    used.set(k, at);
  };
  for (const [name, b] of Object.entries(buttons)) {
    if (!isObj(b)) continue;
    channel(['buttons', name], b);
    if (isString(b.device)) want(b.device in devices, `buttons.${name}.device`, `one of the devices (${deviceNames})`, b.device);
  }
  for (const [name, p] of Object.entries(power)) {
    if (!isObj(p)) continue;
    want(name in devices, `power.${name}`, `a device name (${deviceNames})`, name);
    channel(['power', name], p);
  }
  if (isObj(r.reset)) {
    for (const [dev, st] of Object.entries(r.reset)) {
      const at = `reset.${dev}`;
      want(dev in devices, at, `a device name (${deviceNames})`, dev);
      if (st === 'power-cycle') want(dev in power, at, `a power relay for ${dev} in power (a power cycle needs one)`, st);
      else if (isObj(st) && Array.isArray(st.presses)) for (const b of st.presses as unknown[]) if (isString(b)) want(b in buttons, `${at}.presses`, 'button names of this rig', b);
    }
  }
  problems.push(...setupNameProblems(r.setup));
  return problems;
}
