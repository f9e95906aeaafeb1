/**
 * `npm run bench:counterexample`: bench seconds to a counterexample, for every fault of the
 * simulated bench. Each fault runs on the scenario that catches it (the fault matrix,
 * test/scenarios/faults.test.ts), as a real `hil run --fault F --seed S`, over `--seeds` seeds.
 * For the property-based ones it reads the property's own note (observations.jsonl): seconds
 * from the property's start to its first failing run and to the end of shrinking, runs, shrinks,
 * and what the known-state resets cost, and how long confirming the counterexample took (reruns
 * after shrinking, reported on their own); the counterexample's size (presses) comes from
 * violations.csv. A scenario that is not a property (a fixed burst, a fixed sequence) has no
 * shrinking: its figure is the failing test's duration. Prints median and worst per fault and
 * appends them to reports/bench.csv.
 *
 *   npm run bench:counterexample                         # every fault, 10 seeds (minutes of CPU each)
 *   npm run bench:counterexample -- --seeds 3 --fault no-debounce,slow-callback
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { parse } from 'csv-parse/sync';
import { appendFigures } from './figures.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');

/** The property run of the burst scenario, with a budget that lets shrinking finish. */
const PROPERTY = ['scenarios/40-bursts.spec.ts', '--grep', 'property', '--runs', '30', '--budget', '180s'];

/** Which scenario catches each fault: the fault matrix's (test/scenarios/faults.test.ts). */
const CASES: Record<string, string[]> = {
  'no-debounce': PROPERTY,
  'slow-callback': PROPERTY,
  'bound-off-by-one': PROPERTY,
  'silent-drop': PROPERTY,
  'blocking-put': PROPERTY,
  'lock-in-callback': ['scenarios/40-bursts.spec.ts', '--grep', 'densest'],
  'stuck-processor': ['scenarios/30-pumps.spec.ts', '--grep', 'EMERGENCY while a pump'],
  'esp-sync-db': ['scenarios/60-esp-http.spec.ts', '--grep', '30 requests'],
};

const opts = new Command()
  .name('npm run bench:counterexample --')
  .option('--seeds <n>', 'seeds per fault (1..n)', (v) => Math.round(Number(v)), 10)
  .option('--first-seed <n>', 'first seed', (v) => Math.round(Number(v)), 1)
  .option('--fault <list>', 'faults, comma-separated (default: all)', Object.keys(CASES).join(','))
  .option('--csv <file>', "append figures to this CSV ('none': do not)", 'reports/bench.csv')
  .parse()
  .opts<{ seeds: number; firstSeed: number; fault: string; csv: string }>();

interface Sample {
  seed: number;
  /** Seconds from the property's start (or the test's) to its first failing run; undefined: never failed. */
  firstFailS?: number;
  /** Seconds to the shrunk counterexample (the property's end), or the failing test's duration. */
  shrunkS?: number;
  runs?: number;
  shrinks?: number;
  presses?: number;
  resetShare?: string;
  /** Seconds the counterexample's confirmation took after shrinking (reruns from the known state). */
  confirmS?: number;
  /** Which value the confirmation kept: 'shrunk' (failed again), 'earlier' (the shrunk one did not), 'none'. */
  confirmed?: 'shrunk' | 'earlier' | 'none';
  outcome: string;
}

async function once(fault: string, seed: number): Promise<Sample> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-cx-'));
  try {
    const child = spawn(process.execPath, [HIL, 'run', '--out', out, '--fault', fault, '--seed', String(seed), ...CASES[fault]!], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'ignore'] });
    await new Promise((resolve) => child.on('exit', resolve));
    const dir = path.join(out, fs.readdirSync(out)[0] ?? '');
    const csv = (f: string): Array<Record<string, string>> => (fs.existsSync(path.join(dir, f)) ? parse<Record<string, string>>(fs.readFileSync(path.join(dir, f), 'utf8'), { columns: true }) : []);
    const summary = csv('summary.csv');
    const failing = summary.find((s) => s.outcome !== 'PASS');
    const sample: Sample = { seed, outcome: failing?.outcome ?? (summary.length ? 'PASS' : 'no run') };
    const notes = fs.existsSync(path.join(dir, 'observations.jsonl'))
      ? fs
          .readFileSync(path.join(dir, 'observations.jsonl'), 'utf8')
          .split('\n')
          .filter((l) => l.includes('"note"'))
          .map((l) => JSON.parse(l) as { fields?: Record<string, string | number> })
      : [];
    const prop = notes.find((n) => n.fields?.property_ms !== undefined)?.fields;
    if (prop) {
      if (prop.first_fail_ms !== undefined) {
        sample.firstFailS = Number(prop.first_fail_ms) / 1000;
        sample.shrunkS = Number(prop.property_ms) / 1000;
      }
      sample.runs = Number(prop.runs);
      sample.shrinks = Number(prop.shrinks);
      sample.resetShare = String(notes.find((n) => String(n.fields?.what ?? '').includes('known state before every run'))?.fields?.what ?? '');
      const confirm = notes.find((n) => n.fields?.confirm_ms !== undefined)?.fields;
      if (confirm) {
        sample.confirmS = Number(confirm.confirm_ms) / 1000;
        const k = Number(confirm.confirmed);
        sample.confirmed = k === 0 ? 'shrunk' : k > 0 ? 'earlier' : 'none';
      }
      const cx = csv('violations.csv').find((v) => v.counterexample)?.counterexample;
      if (cx) sample.presses = (cx.match(/"button"/g) ?? []).length;
    } else if (failing) {
      // A fixed scenario: the failing test's own duration is the time to its (unshrunk) counterexample.
      sample.firstFailS = sample.shrunkS = Number(failing.duration_ms) / 1000;
      sample.presses = Number(failing.presses) || undefined;
    }
    return sample;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');

const figures: Record<string, number> = {};
console.log(`seconds to a counterexample on the sim, ${opts.seeds} seed(s) per fault, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const fault of opts.fault.split(',').filter(Boolean)) {
  if (!CASES[fault]) throw new Error(`--fault: unknown fault ${JSON.stringify(fault)}; known: ${Object.keys(CASES).join(', ')}`);
  const samples: Sample[] = [];
  for (let k = 0; k < opts.seeds; k++) {
    const s = await once(fault, opts.firstSeed + k);
    samples.push(s);
    console.log(`  ${fault} seed ${s.seed}: ${s.outcome}, first failure ${fmt(s.firstFailS ?? NaN)} s, shrunk ${fmt(s.shrunkS ?? NaN)} s, ${s.runs ?? '–'} runs, ${s.shrinks ?? '–'} shrinks, ${s.presses ?? '–'} presses${s.confirmS !== undefined ? `, confirmed (${s.confirmed}) in ${fmt(s.confirmS)} s more` : ''}${s.resetShare ? `; ${s.resetShare}` : ''}`);
  }
  const found = samples.filter((s) => s.shrunkS !== undefined);
  const first = found.map((s) => s.firstFailS!);
  const shrunk = found.map((s) => s.shrunkS!);
  const presses = found.flatMap((s) => (s.presses !== undefined ? [s.presses] : []));
  const confirms = found.flatMap((s) => (s.confirmS !== undefined ? [s.confirmS] : []));
  const unconfirmed = found.filter((s) => s.confirmed !== undefined && s.confirmed !== 'shrunk').length;
  const row = { found: found.length, seeds: samples.length, firstMed: median(first), firstMax: Math.max(...first), shrunkMed: median(shrunk), shrunkMax: Math.max(...shrunk), pressesMed: median(presses), pressesMax: Math.max(...presses) };
  console.log(`  ${fault}: found in ${row.found}/${row.seeds}; first failure median ${fmt(row.firstMed)} s, worst ${fmt(row.firstMax)} s; shrunk median ${fmt(row.shrunkMed)} s, worst ${fmt(row.shrunkMax)} s; counterexample median ${fmt(row.pressesMed)} presses, largest ${fmt(row.pressesMax)}${confirms.length ? `; confirming it took ${fmt(median(confirms))} s more (median), and ${unconfirmed} of ${confirms.length} shrunk counterexample(s) did not fail again` : ''}`);
  figures[`${fault}_found_of_seeds`] = row.found / row.seeds;
  figures[`${fault}_first_fail_s_median`] = +row.firstMed.toFixed(1);
  figures[`${fault}_first_fail_s_worst`] = +row.firstMax.toFixed(1);
  figures[`${fault}_shrunk_s_median`] = +row.shrunkMed.toFixed(1);
  figures[`${fault}_shrunk_s_worst`] = +row.shrunkMax.toFixed(1);
  if (confirms.length) {
    figures[`${fault}_confirm_s_median`] = +median(confirms).toFixed(1);
    figures[`${fault}_unconfirmed`] = unconfirmed;
  }
  if (presses.length) {
    figures[`${fault}_presses_median`] = row.pressesMed;
    figures[`${fault}_presses_max`] = row.pressesMax;
  }
}
if (opts.csv !== 'none') appendFigures(opts.csv, 'counterexample', figures);
