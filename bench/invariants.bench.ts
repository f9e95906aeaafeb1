/**
 * Invariant engine on a long run: does the cost per observation stay flat as presses pile up?
 * A synthetic trace (the invariant tests' Trace: presses with edge, callback, put, get, done,
 * heartbeats) of many bursts, fed in slices; prints observations/s per slice and heap growth.
 *
 *   npm run bench:invariants [-- PRESSES]
 */
import { InvariantEngine } from '../harness/core/invariants/engine.ts';
import { config, Trace } from '../test/core/invariants/trace.ts';

const total = Number(process.argv[2] ?? 60_000);
const BURST = 8;
const tr = new Trace();
const buttons = ['PRESSURE_UP', 'PRESSURE_DOWN', 'SHIM_ROD_UP', 'PUMP_PRIMARY_ON'];
for (let n = 0; n < total; n += BURST) {
  for (let k = 0; k < BURST; k++) {
    tr.click(buttons[k % buttons.length]!);
    tr.advance(3);
    if (k % 2 === 1) tr.process(1); // the processor keeps up with every other press
  }
  tr.process();
  tr.advance(200);
}
const obs = tr.obs;
console.log(`${total} presses, ${obs.length} observations`);
let engine: InvariantEngine | undefined = new InvariantEngine(config());
const slices = 6;
const per = Math.ceil(obs.length / slices);
for (let s = 0; s < slices; s++) {
  const t0 = performance.now();
  for (const o of obs.slice(s * per, (s + 1) * per)) engine.observe(o);
  const ms = performance.now() - t0;
  console.log(`slice ${s + 1}/${slices}: ${Math.round(per / (ms / 1000)).toLocaleString('en')} observations/s`);
}
const kinds = new Map<string, number>();
for (const v of engine.violations) kinds.set(v.invariant, (kinds.get(v.invariant) ?? 0) + 1);
if (kinds.size) console.log('violations (the trace should have none):', Object.fromEntries(kinds));
// What the engine holds: the heap with it, minus the heap without it.
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  gc();
  const withEngine = process.memoryUsage().heapUsed;
  engine = undefined;
  gc();
  const held = withEngine - process.memoryUsage().heapUsed;
  console.log(`engine holds ${(held / 1e6).toFixed(1)} MB after ${total} presses (${(held / total).toFixed(0)} B per press)`);
} else {
  console.log('run with --expose-gc for the memory figure');
}
