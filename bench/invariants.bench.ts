/**
 * Invariant engine on a long run: does the cost per observation stay flat, and does memory stay
 * flat, as presses pile up? A synthetic trace (the invariant tests' Trace: presses with edge,
 * callback, put, get, done, heartbeats) of many bursts, generated and fed in pieces (the trace is
 * never held whole), as a soak with no test window open: the engine may drop what it has judged.
 * Prints observations/s and the process's RSS and heap at each sixth of the run.
 *
 *   npm run bench:invariants [-- PRESSES] [--no-prune] [--csv FILE]
 *
 * Appends its figures to reports/bench.csv (or FILE).
 */
import { InvariantEngine } from '../harness/core/invariants/engine.ts';
import { config, Trace } from '../test/core/invariants/trace.ts';
import { appendFigures } from './figures.ts';

const args = process.argv.slice(2);
const total = Number(args.find((a) => /^\d+$/.test(a)) ?? 60_000);
const prune = !args.includes('--no-prune');
const csv = args.includes('--csv') ? args[args.indexOf('--csv') + 1]! : 'reports/bench.csv';
const BURST = 8;
const buttons = ['PRESSURE_UP', 'PRESSURE_DOWN', 'SHIM_ROD_UP', 'PUMP_PRIMARY_ON'];
const gc = (globalThis as { gc?: () => void }).gc;
const mb = (x: number): string => (x / 1e6).toFixed(0);

const tr = new Trace();
const engine = new InvariantEngine(config());
const slices = 6;
const perSlice = Math.ceil(total / slices / BURST) * BURST;
let fed = 0;
let busyMs = 0;
let sliceObs = 0;
let peakRss = 0;
let firstRss = 0;
const perSliceRate: number[] = [];
const rows: string[] = [];
console.log(`${total.toLocaleString('en')} presses, pruning ${prune ? 'on (as a live run between windows)' : 'off'}`);
for (let n = 0; n < total; n += BURST) {
  for (let k = 0; k < BURST; k++) {
    tr.click(buttons[k % buttons.length]!);
    tr.advance(3);
    if (k % 2 === 1) tr.process(1); // the processor keeps up with every other press
  }
  tr.process();
  tr.advance(200);
  const obs = tr.drain();
  const t0 = performance.now();
  for (const o of obs) engine.observe(o);
  if (prune) engine.retainFrom(obs[obs.length - 1]!.i + 1);
  busyMs += performance.now() - t0;
  fed += obs.length;
  sliceObs += obs.length;
  if ((n + BURST) % perSlice === 0 || n + BURST >= total) {
    gc?.();
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    firstRss ||= m.rss;
    perSliceRate.push(Math.round(sliceObs / (busyMs / 1000)));
    const line = `${(n + BURST).toLocaleString('en').padStart(10)} presses: ${Math.round(sliceObs / (busyMs / 1000)).toLocaleString('en')} observations/s, RSS ${mb(m.rss)} MB, heap ${mb(m.heapUsed)} MB, held: ${engine.presses.length} presses, ${engine.events.length} events`;
    rows.push(line);
    console.log(line);
    busyMs = 0;
    sliceObs = 0;
  }
}
const kinds = new Map<string, number>();
for (const v of engine.violations) kinds.set(v.invariant, (kinds.get(v.invariant) ?? 0) + 1);
if (kinds.size) console.log('violations (the trace should have none):', Object.fromEntries(kinds));
console.log(`${fed.toLocaleString('en')} observations; peak RSS ${mb(peakRss)} MB${gc ? '' : ' (run with --expose-gc for steady figures)'}`);
const end = process.memoryUsage();
appendFigures(csv, 'invariants', {
  presses: total,
  observations: fed,
  prune,
  obs_per_s_first_sixth: perSliceRate[0] ?? 0,
  obs_per_s_last_sixth: perSliceRate[perSliceRate.length - 1] ?? 0,
  rss_first_sixth_mb: +(firstRss / 1e6).toFixed(0),
  rss_peak_mb: +(peakRss / 1e6).toFixed(0),
  heap_end_mb: +(end.heapUsed / 1e6).toFixed(1),
  presses_held_end: engine.presses.length,
  violations: engine.violations.length,
});
