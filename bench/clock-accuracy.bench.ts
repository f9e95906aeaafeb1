/**
 * `npm run bench:clock`: how well a run places device times on the host clock, against the truth.
 *
 * It opens the simulated bench as a run does (RigSession: the provider starts the sim wired as the
 * sim rig says, the consoles are read by the real SerialLineSource), taps buttons for `--seconds`
 * so the consoles carry bursts as well as heartbeats, then maps every timestamped device line with
 * the run's own per-boot clock fit (EpochFits, the code of the session's ClockSync and of the
 * invariants) and compares it with the true host time the sim's ground truth gives for that device
 * time (each boot's clock: boot time, offset, drift). Two placements are judged:
 *
 *  - live: the fit as it stood when the line arrived (what the invariants use while the run goes);
 *  - final: the fit at the end of the run (what the report's rows use).
 *
 * `live` leaves out each device's first ten lines (its first boot's youngest fit), as it always
 * did; `live all` judges every line a fit placed, from each boot's second line on. With
 * `--cycle-every` both devices are power-cycled during the run, so later boots show what a fit
 * learnt from the earlier ones.
 *
 * For each: the error |placed − true| p50/p99/max, its mean (the bias), and the fraction of lines
 * whose true time lies inside the reported bound (placed ± errNs). Over each `--link`:
 * `uart` (the consoles as a 115200-baud UART delivers them) and `usb-ftdi` (the same bytes through
 * a USB-serial adapter: chunks released by a 1–16 ms latency timer).
 *
 *   npm run bench:clock
 *   npm run bench:clock -- --seconds 30 --link uart --seed 3
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { EpochFits } from '../harness/core/clock-sync.ts';
import { loadRig } from '../harness/rig/load.ts';
import { RigSession } from '../harness/runner/session.ts';
import { SIM_LINKS } from '../harness/sim/provider.ts';
import { readGroundTruth } from '../harness/sim/ground-truth.ts';
import { appendFigures } from './figures.ts';

const opts = new Command()
  .name('npm run bench:clock --')
  .option('--seconds <n>', 'seconds of run per link', (v) => Number(v), 20)
  .option('--link <list>', `console links, comma-separated (${SIM_LINKS.join(', ')})`, SIM_LINKS.join(','))
  .option('--seed <n>', 'sim seed (device clocks, relay timing)', (v) => Math.round(Number(v)), 1)
  .option('--csv <file>', "append figures to this CSV ('none': do not)", 'reports/bench.csv')
  .option('--cycle-every <s>', 'power-cycle the Pi and the ESP every this many seconds (later boots: what a fit learnt from the earlier ones)', (v) => Number(v))
  .option('--misses', 'list every line whose live bound missed the truth, and each boot\'s first lines (how late, the bound, the fit)')
  .parse()
  .opts<{ seconds: number; link: string; seed: number; csv: string; misses?: boolean; cycleEvery?: number }>();

interface Line {
  source: string;
  tDev: number;
  /** Host arrival, ns. */
  arrival: bigint;
  /** Log index. */
  i: number;
  kind: string;
  live?: { t: bigint; errNs: number; points: number };
}

interface Boot {
  source: string;
  t: bigint;
  offsetUs: number;
  driftPpm: number;
}

/** The true host time (ns) of device time `tDev` in `boot`: the sim's DeviceClock, inverted. */
function trueNs(b: Boot, tDev: number): number {
  return Number(b.t) + ((tDev - b.offsetUs) / (1 + b.driftPpm * 1e-6)) * 1000;
}

function pct(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

interface Figures {
  lines: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  biasUs: number;
  covered: number;
  boundP50Us: number;
}

function judge(pairs: Array<{ placed: number; errNs: number; truth: number }>): Figures {
  const errs = pairs.map((p) => Math.abs(p.placed - p.truth) / 1000).sort((a, b) => a - b);
  const bias = pairs.reduce((s, p) => s + (p.placed - p.truth), 0) / Math.max(1, pairs.length) / 1000;
  // A bound covers when the truth lies within it; 1 µs is the device clock's own resolution.
  const covered = pairs.filter((p) => Math.abs(p.placed - p.truth) <= p.errNs + 1000).length / Math.max(1, pairs.length);
  const bounds = pairs.map((p) => p.errNs / 1000).sort((a, b) => a - b);
  return { lines: pairs.length, p50Us: pct(errs, 0.5), p99Us: pct(errs, 0.99), maxUs: errs[errs.length - 1] ?? NaN, biasUs: bias, covered, boundP50Us: pct(bounds, 0.5) };
}

async function runLink(link: string): Promise<Record<string, Figures>> {
  const { rig } = await loadRig('sim-bench');
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `hil-clock-${link}-`));
  const session = await RigSession.open(rig, { outDir, seed: opts.seed, link });
  const lines: Line[] = [];
  // The live placement: the same per-boot fit as the run's, fed in log order, asked as each line arrives.
  const live = new EpochFits(session.clockOptions);
  session.log.on('*', (o) => {
    if (o.tDev === undefined) return;
    live.observe(o);
    const p = live.toHost(o.source, o.tDev, o.i);
    const points = live.mapping(o.source, o.i)?.points ?? 0;
    lines.push({ source: o.source, tDev: o.tDev, arrival: o.t, i: o.i, kind: o.kind, ...(p ? { live: { ...p, points } } : {}) });
  });
  const buttons = ['PRESSURE_UP', 'PRESSURE_DOWN', 'PUMP_PRIMARY_ON', 'PUMP_PRIMARY_OFF'];
  const end = Date.now() + opts.seconds * 1000;
  let presses = 0;
  let cycles = 0;
  let cycledAt = Date.now();
  try {
    await new Promise((r) => setTimeout(r, 1000));
    while (Date.now() < end) {
      if (opts.cycleEvery !== undefined && Date.now() - cycledAt >= opts.cycleEvery * 1000) {
        await Promise.all([session.power('pi').cycle(), session.power('esp').cycle()]);
        cycledAt = Date.now();
        cycles++;
        continue;
      }
      await session.buttons.tapWhenAllowed(buttons[presses++ % buttons.length]!);
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 300));
    }
  } finally {
    await session.close();
  }
  const truth = readGroundTruth(path.join(outDir, 'ground-truth.jsonl'));
  const boots: Boot[] = truth
    .filter((r) => r.clock_offset_us !== undefined && ((r.src === 'pi' && r.kind === 'power' && r.on === true) || (r.src === 'esp' && r.kind === 'boot')))
    .map((r) => ({ source: r.src, t: r.t, offsetUs: Number(r.clock_offset_us), driftPpm: Number(r.clock_drift_ppm) }))
    .sort((a, b) => (a.t < b.t ? -1 : 1));
  const bootOf = (l: Line): Boot | undefined => boots.filter((b) => b.source === l.source && b.t <= l.arrival).pop();
  const out: Record<string, Figures> = {};
  for (const device of ['pi', 'esp']) {
    const mine = lines.filter((l) => l.source === device && bootOf(l));
    const finalPairs = mine.flatMap((l) => {
      const p = session.clocks.toHost(device, l.tDev, l.i);
      return p ? [{ placed: Number(p.t), errNs: p.errNs, truth: trueNs(bootOf(l)!, l.tDev) }] : [];
    });
    const livePair = (l: Line) => (l.live ? [{ placed: Number(l.live.t), errNs: l.live.errNs, truth: trueNs(bootOf(l)!, l.tDev) }] : []);
    // `live`, as first measured: from the device's tenth line on (its first boot's first lines are
    // left out); `live all`: every line a fit placed, from each boot's second line.
    const livePairs = mine.slice(10).flatMap(livePair);
    if (opts.misses) listMisses(device, mine, bootOf);
    out[`${device} final`] = judge(finalPairs);
    out[`${device} live`] = judge(livePairs);
    out[`${device} live all`] = judge(mine.flatMap(livePair));
  }
  fs.rmSync(outDir, { recursive: true, force: true });
  console.log(`  ${link}: ${presses} presses, ${cycles} power cycles, ${lines.length} timestamped lines in ${opts.seconds} s`);
  return out;
}

/**
 * `--misses`: each boot's first 40 lines and every later line whose live bound missed: how late it
 * arrived (arrival − true), where the live fit placed it, the bound, and the fit's points.
 */
function listMisses(device: string, mine: Line[], bootOf: (l: Line) => Boot | undefined): void {
  let boot: Boot | undefined;
  let k = 0;
  const f = (ns: number): string => (ns / 1e6).toFixed(3).padStart(8);
  for (const l of mine) {
    const b = bootOf(l)!;
    if (b !== boot) {
      boot = b;
      k = 0;
      console.log(`  ${device} boot at ${b.t}: k  kind        late ms   err ms  bound ms  points`);
    }
    const truth = trueNs(b, l.tDev);
    const late = Number(l.arrival) - truth;
    const err = l.live ? Number(l.live.t) - truth : NaN;
    const missed = l.live !== undefined && Math.abs(err) > l.live.errNs + 1000;
    if (k < 40 || missed) console.log(`    ${String(k).padStart(4)} ${l.kind.padEnd(10)} ${f(late)} ${f(err)} ${f(l.live?.errNs ?? NaN)} ${String(l.live?.points ?? 0).padStart(6)}${missed ? '  MISSED' : ''}`);
    k++;
  }
}

const all: Record<string, number> = {};
console.log(`clock accuracy against the sim's ground truth (seed ${opts.seed}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
for (const link of opts.link.split(',').filter(Boolean)) {
  const res = await runLink(link);
  console.log(`  ${'placement'.padEnd(13)} ${'lines'.padStart(6)} ${'p50 µs'.padStart(9)} ${'p99 µs'.padStart(9)} ${'max µs'.padStart(9)} ${'bias µs'.padStart(9)} ${'bound p50'.padStart(10)} ${'covered'.padStart(8)}`);
  for (const [k, f] of Object.entries(res)) {
    console.log(`  ${k.padEnd(13)} ${String(f.lines).padStart(6)} ${f.p50Us.toFixed(0).padStart(9)} ${f.p99Us.toFixed(0).padStart(9)} ${f.maxUs.toFixed(0).padStart(9)} ${f.biasUs.toFixed(0).padStart(9)} ${f.boundP50Us.toFixed(0).padStart(10)} ${(f.covered * 100).toFixed(1).padStart(7)}%`);
    const key = `${link} ${k}`.replace(/ /g, '_');
    all[`${key}_err_p50_us`] = +f.p50Us.toFixed(1);
    all[`${key}_err_p99_us`] = +f.p99Us.toFixed(1);
    all[`${key}_err_max_us`] = +f.maxUs.toFixed(1);
    all[`${key}_bias_us`] = +f.biasUs.toFixed(1);
    all[`${key}_bound_covers_pct`] = +(f.covered * 100).toFixed(2);
    all[`${key}_bound_p50_us`] = +f.boundP50Us.toFixed(1);
  }
}
if (opts.csv !== 'none') appendFigures(opts.csv, 'clock-accuracy', all);
