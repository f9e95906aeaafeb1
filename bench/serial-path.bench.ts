/**
 * `npm run bench:serial`: the whole path a device line takes in a run, over a real PTY fed by a
 * separate writer process (bench/flood-writer.ts: a healthy, busy panel): read → split → decode
 * (the sim rig's decoders) → observation log → the run's own live invariant monitor, with every
 * invariant the sim rig enables → a pending waitFor resolving. Alternated with the peer, pexpect
 * regex-expecting each line of the same writer's stream (bench/pexpect-peer.py, run with a Python
 * that has pexpect), A/B/A/B, it prints the ratio of each pair and their median: absolute figures
 * move with the machine's load, a ratio measured in one sitting much less. Also lines/s, MB/s,
 * waitFor resolution p50/p99, memory growth and the violations found (a healthy stream: 0), and
 * appends the figures to reports/bench.csv.
 *
 *   npm run bench:serial                       # 3 pairs of 1 M harness lines / 200 k pexpect lines
 *   npm run bench:serial -- --pairs 5 --lines 2e6
 *   npm run bench:serial -- --python none      # no peer
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { LineDecoder } from '../harness/core/decoders.ts';
import { InvariantMonitor } from '../harness/core/invariants/monitor.ts';
import { resolveInvariantConfig } from '../harness/core/invariants/types.ts';
import { ObservationLog } from '../harness/core/observation-log.ts';
import { SerialLineSource } from '../harness/hw/serial-line-source.ts';
import { loadRig } from '../harness/rig/load.ts';
import { appendFigures, machine } from './figures.ts';

const opts = new Command()
  .name('npm run bench --')
  .option('--lines <n>', 'lines per harness run', (v) => Math.round(Number(v)), 1_000_000)
  .option('--pairs <n>', 'harness/pexpect pairs, alternated', (v) => Math.round(Number(v)), 3)
  .option('--peer-lines <n>', 'lines per pexpect run', (v) => Math.round(Number(v)), 200_000)
  .option('--python <path>', "a Python with pexpect for the peer ('none': no peer)", '/usr/bin/python3')
  .option('--mark-every <n>', 'one waited-for line every n lines', (v) => Number(v), 1000)
  .option('--csv <file>', 'append figures to this CSV', 'reports/bench.csv')
  .parse()
  .opts<{ lines: number; pairs: number; peerLines: number; python: string; markEvery: number; csv: string }>();

const here = path.dirname(fileURLToPath(import.meta.url));
const gc = (globalThis as { gc?: () => void }).gc;

const writer = spawn(process.execPath, ['--import=tsx', path.join(here, 'flood-writer.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
const msgs: Array<Record<string, unknown>> = [];
let wake: (() => void) | undefined;
readline.createInterface({ input: writer.stdout }).on('line', (l) => {
  msgs.push(JSON.parse(l) as Record<string, unknown>);
  wake?.();
});
async function next(): Promise<Record<string, unknown>> {
  while (msgs.length === 0) await new Promise<void>((r) => (wake = r));
  return msgs.shift()!;
}

const { path: ptyPath } = (await next()) as { path: string };
// The run's own path: the sim rig's panel device (its decoders), its invariants, the raw log.
const { rig } = await loadRig('sim-bench');
const DEVICE = 'pi';
const log = new ObservationLog({ window: 65_536 });
const monitor = new InvariantMonitor(log, resolveInvariantConfig(rig, rig.invariants));
const rawDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-bench-'));
const source = new SerialLineSource({
  name: DEVICE,
  port: { path: ptyPath },
  baudRate: 115200,
  log,
  decoder: new LineDecoder(rig.devices[DEVICE]!.decoders ?? []),
  rawLogPath: path.join(rawDir, `${DEVICE}.log`),
});

await source.open();

// The longest silence of the link (host arrival gap between two lines read): a stall of the
// machine, not of the device, when it is seconds long on a loaded host.
let lastArrival = 0n;
let maxGapMs = 0;
log.on(`${DEVICE}.*`, (o) => {
  // The lines of one read share its stamp: only a new stamp is a gap to measure (no BigInt a line).
  if (o.t === lastArrival) return;
  if (lastArrival !== 0n) maxGapMs = Math.max(maxGapMs, Number(o.t - lastArrival) / 1e6);
  lastArrival = o.t;
}, { name: 'bench-gap' });

// Parse stamps for the waited-for lines: the moment each enters the log (after split + decode).
const parsedAt = new Map<number, bigint>();
const append = log.append.bind(log);
log.append = (o) => {
  const obs = append(o);
  if (o.kind === 'mark') parsedAt.set(obs.i, process.hrtime.bigint());
  return obs;
};

// A chain of waits, each registered before its line arrives: latency is from the line being
// parsed into the log to the waiting code running (and, as a second figure, from its chunk's
// arrival stamp).
const latUs: number[] = [];
const arrUs: number[] = [];
let stopped = false;
const waiter = (async () => {
  for (let id = 1; !stopped; id++) {
    try {
      const m = await log.waitFor({ topic: `${DEVICE}.mark`, fields: { id } }, { within: 600_000 });
      const now = process.hrtime.bigint();
      latUs.push(Number(now - parsedAt.get(m.index)!) / 1000);
      arrUs.push(Number(now - m.t) / 1000);
      parsedAt.delete(m.index);
    } catch {
      return;
    }
  }
})();

async function send(lines: number): Promise<{ secs: number; bytes: number; lines: number; cpuUs: number }> {
  const startLines = source.stats().lines;
  const startBytes = source.stats().bytes;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  writer.stdin.write(JSON.stringify({ go: lines, markEvery: opts.markEvery }) + '\n');
  while (source.stats().lines - startLines < lines) await new Promise((r) => setTimeout(r, 2));
  log.flush(); // every line read has reached the invariants
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await next(); // writer's done
  return { secs, bytes: source.stats().bytes - startBytes, lines: source.stats().lines - startLines, cpuUs: cpu.user + cpu.system };
}

/** The peer over the same writer's stream: lines/s, or why it did not run. */
function peer(lines: number): Promise<{ lines_per_s: number; pexpect: string } | { error: string }> {
  if (opts.python === 'none') return Promise.resolve({ error: 'no peer asked for (--python none)' });
  return new Promise((resolve) => {
    const p = spawn(opts.python, [path.join(here, 'pexpect-peer.py'), '--lines', String(lines)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE: process.execPath } });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('error', (e) => resolve({ error: `${opts.python}: ${e.message}` }));
    p.on('close', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as { lines_per_s: number; pexpect: string } | { error: string });
      } catch {
        resolve({ error: `${opts.python} ${path.join(here, 'pexpect-peer.py')} exited ${code} without a result` });
      }
    });
  });
}

// Warm up (JIT, buffers), then measure memory from there.
await send(500_000);
latUs.length = 0;
arrUs.length = 0;
gc?.();
const mem0 = process.memoryUsage();
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const runs: Array<{ secs: number; bytes: number; lines: number; cpuUs: number }> = [];
const ratios: number[] = [];
const peerRates: number[] = [];
let peerNote = '';
for (let k = 0; k < opts.pairs; k++) {
  const a = await send(opts.lines);
  runs.push(a);
  const aRate = a.lines / a.secs;
  let line = `  pair ${k + 1}: harness ${Math.round(aRate).toLocaleString('en')} lines/s`;
  if (!peerNote) {
    const b = await peer(opts.peerLines);
    if ('error' in b) peerNote = b.error;
    else {
      peerRates.push(b.lines_per_s);
      ratios.push(aRate / b.lines_per_s);
      line += `, pexpect ${b.pexpect} ${b.lines_per_s.toLocaleString('en')} lines/s: ${(aRate / b.lines_per_s).toFixed(1)}×`;
    }
  }
  console.log(line);
}
monitor.tick();
gc?.();
const mem1 = process.memoryUsage();
stopped = true;
log.failWaiters(new Error('bench over'));
await waiter;

latUs.sort((a, b) => a - b);
arrUs.sort((a, b) => a - b);
const pct = (p: number, a = latUs) => a[Math.min(a.length - 1, Math.floor(a.length * p))] ?? NaN;
const rates = runs.map((r) => r.lines / r.secs);
// CPU the harness process spent per line (its threads included): the work a line costs, which a
// busy machine changes far less than it changes lines/s.
const cpuPerLine = runs.map((r) => r.cpuUs / r.lines);
const totalLines = runs.reduce((n, r) => n + r.lines, 0);
const totalBytes = runs.reduce((n, r) => n + r.bytes, 0);
const violations = monitor.violations;
const fig = {
  date: new Date().toISOString(),
  host: machine(),
  node: process.version,
  path: 'serial+monitor',
  lines: totalLines,
  line_bytes: Math.round(totalBytes / totalLines),
  lines_per_s: Math.round(median(rates)),
  mb_per_s: +((median(rates) * totalBytes) / totalLines / 1e6).toFixed(1),
  cpu_us_per_line: +median(cpuPerLine).toFixed(2),
  pexpect_lines_per_s: peerRates.length ? Math.round(median(peerRates)) : '',
  ratio_median: ratios.length ? +median(ratios).toFixed(1) : '',
  ratios: ratios.map((r) => r.toFixed(1)).join(' '),
  resolve_p50_us: +pct(0.5).toFixed(1),
  resolve_p99_us: +pct(0.99).toFixed(1),
  resolve_max_us: +(latUs[latUs.length - 1] ?? NaN).toFixed(1),
  waits: latUs.length,
  arrival_p50_us: +pct(0.5, arrUs).toFixed(1),
  arrival_p99_us: +pct(0.99, arrUs).toFixed(1),
  heap_growth_mb: +((mem1.heapUsed - mem0.heapUsed) / 1e6).toFixed(1),
  rss_growth_mb: +((mem1.rss - mem0.rss) / 1e6).toFixed(1),
  rss_mb: +(mem1.rss / 1e6).toFixed(0),
  gc_exposed: gc !== undefined,
  violations: violations.length,
  max_link_gap_ms: +maxGapMs.toFixed(1),
  load_avg_1m: +os.loadavg()[0]!.toFixed(2),
};

console.log(`serial path, ${opts.pairs} runs of ${opts.lines.toLocaleString('en')} lines of ${fig.line_bytes} bytes over a PTY from a separate writer process, into the live monitor (every invariant of the sim rig)`);
console.log(`  throughput        ${fig.lines_per_s.toLocaleString('en')} lines/s (median run)   ${fig.mb_per_s} MB/s   CPU ${fig.cpu_us_per_line} µs a line (the harness process, median run)`);
if (ratios.length) console.log(`  vs pexpect        ${fig.ratios} per pair; median ${fig.ratio_median}×   (pexpect median ${Number(fig.pexpect_lines_per_s).toLocaleString('en')} lines/s; target ≥ 20×)`);
else console.log(`  vs pexpect        skipped: ${peerNote}`);
console.log(`  waitFor resolved  p50 ${fig.resolve_p50_us} µs   p99 ${fig.resolve_p99_us} µs   max ${fig.resolve_max_us} µs over ${fig.waits} waits   (target p99 ≤ 100 µs)`);
console.log(`  from arrival      p50 ${fig.arrival_p50_us} µs   p99 ${fig.arrival_p99_us} µs   (chunk read → waiting code runs; includes splitting the lines ahead of it)`);
console.log(`  memory            heap +${fig.heap_growth_mb} MB   rss +${fig.rss_growth_mb} MB (rss ${fig.rss_mb} MB)   (target < 50 MB growth)`);
console.log(`  invariants        ${fig.violations} violations (a healthy stream: must be 0); load average ${fig.load_avg_1m}; ${fig.host}; node ${fig.node}`);
console.log(`  longest silence  ${fig.max_link_gap_ms} ms between two lines read (the writer never pauses mid-flood for more than a chunk)`);
for (const v of violations.slice(0, 10)) console.log(`    ${v.invariant} (${v.kind}): ${v.detail}`);
if (violations.length > 10) console.log(`    … and ${violations.length - 10} more`);

const { date: _date, host: _host, node: _node, load_avg_1m: _load, ...figures } = fig;
appendFigures(opts.csv, 'serial', figures);

writer.stdin.write(JSON.stringify({ exit: true }) + '\n');
monitor.close();
await source.close();
fs.rmSync(rawDir, { recursive: true, force: true });
process.exit(violations.length > 0 ? 1 : 0);
