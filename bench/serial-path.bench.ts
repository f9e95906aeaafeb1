/**
 * `npm run bench`: the whole path a device line takes, over a real PTY fed by a separate writer
 * process: read → split → decode → observation log → live invariants → a pending waitFor
 * resolving. Prints lines/s, MB/s, resolution latency p50/p99 and memory growth, and appends the
 * figures to reports/bench.csv.
 *
 *   npm run bench                 # 10 M lines (about a minute)
 *   npm run bench -- --lines 1e6  # quicker
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'csv-stringify/sync';
import { Command } from 'commander';
import { ObservationLog, Priority } from '../harness/core/observation-log.ts';
import { SerialLineSource } from '../harness/hw/serial-line-source.ts';

const opts = new Command()
  .name('npm run bench --')
  .option('--lines <n>', 'lines to send', (v) => Math.round(Number(v)), 10_000_000)
  .option('--mark-every <n>', 'one waited-for line every n lines', (v) => Number(v), 1000)
  .option('--csv <file>', 'append figures to this CSV', 'reports/bench.csv')
  .parse()
  .opts<{ lines: number; markEvery: number; csv: string }>();

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
const log = new ObservationLog({ window: 65_536 });
const source = new SerialLineSource({ name: 'dev', port: { path: ptyPath }, log });

// Live invariants, as a run has them: queue bound on every put, seq continuity on every line.
let violations = 0;
let lastSeq = 0;
log.on('dev.q_put', (o) => {
  const f = o.fields!;
  if ((f.depth as number) > (f.cap as number)) violations++;
}, { priority: Priority.INVARIANT, name: 'queue-bound' });
log.on('dev.*', (o) => {
  if (o.seq === undefined) return;
  if (lastSeq !== 0 && o.seq !== lastSeq + 1) violations++;
  lastSeq = o.seq;
}, { priority: Priority.INVARIANT, name: 'seq-gap' });

await source.open();

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
      const m = await log.waitFor({ topic: 'dev.mark', fields: { id } }, { within: 120_000 });
      const now = process.hrtime.bigint();
      latUs.push(Number(now - parsedAt.get(m.index)!) / 1000);
      arrUs.push(Number(now - m.t) / 1000);
      parsedAt.delete(m.index);
    } catch {
      return;
    }
  }
})();

async function send(lines: number): Promise<{ secs: number; bytes: number }> {
  const startLines = source.stats().lines;
  const startBytes = source.stats().bytes;
  const t0 = process.hrtime.bigint();
  writer.stdin.write(JSON.stringify({ go: lines, markEvery: opts.markEvery }) + '\n');
  while (source.stats().lines - startLines < lines) await new Promise((r) => setTimeout(r, 2));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await next(); // writer's done
  return { secs, bytes: source.stats().bytes - startBytes };
}

// Warm up (JIT, buffers), then measure memory from there.
await send(1_000_000); // long enough for the young generation to reach its working size
latUs.length = 0;
arrUs.length = 0;
gc?.();
const mem0 = process.memoryUsage();
const progress = setInterval(() => {
  if (process.stderr.isTTY) process.stderr.write(`\r  ${source.stats().lines.toLocaleString()} lines read…`);
}, 500);
const run = await send(opts.lines);
clearInterval(progress);
if (process.stderr.isTTY) process.stderr.write('\r');
gc?.();
const mem1 = process.memoryUsage();
stopped = true;
log.failWaiters(new Error('bench over'));
await waiter;

latUs.sort((a, b) => a - b);
arrUs.sort((a, b) => a - b);
const pct = (p: number, a = latUs) => a[Math.min(a.length - 1, Math.floor(a.length * p))] ?? NaN;
const fig = {
  date: new Date().toISOString(),
  host: `${os.cpus().length}x ${os.cpus()[0]?.model.trim() ?? '?'}`,
  node: process.version,
  lines: opts.lines,
  line_bytes: Math.round(run.bytes / opts.lines),
  seconds: +run.secs.toFixed(2),
  lines_per_s: Math.round(opts.lines / run.secs),
  mb_per_s: +(run.bytes / run.secs / 1e6).toFixed(1),
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
  violations,
  load_avg_1m: +os.loadavg()[0]!.toFixed(2),
};

console.log(`serial path, ${fig.lines.toLocaleString()} lines of ${fig.line_bytes} bytes over a PTY from a separate writer process`);
console.log(`  throughput        ${fig.lines_per_s.toLocaleString()} lines/s   ${fig.mb_per_s} MB/s   (target ≥ 400,000 lines/s)`);
console.log(`  waitFor resolved  p50 ${fig.resolve_p50_us} µs   p99 ${fig.resolve_p99_us} µs   max ${fig.resolve_max_us} µs over ${fig.waits} waits   (target p99 ≤ 100 µs)`);
console.log(`  from arrival      p50 ${fig.arrival_p50_us} µs   p99 ${fig.arrival_p99_us} µs   (chunk read → waiting code runs; includes splitting the lines ahead of it)`);
console.log(`  memory            heap +${fig.heap_growth_mb} MB   rss +${fig.rss_growth_mb} MB (rss ${fig.rss_mb} MB)   (target < 50 MB growth)`);
console.log(`  invariants        ${fig.violations} violations; load average ${fig.load_avg_1m}; ${fig.host}; node ${fig.node}`);

fs.mkdirSync(path.dirname(opts.csv), { recursive: true });
const exists = fs.existsSync(opts.csv);
fs.appendFileSync(opts.csv, stringify([fig], { header: !exists }));
console.log(`  figures appended to ${opts.csv}`);

writer.stdin.write(JSON.stringify({ exit: true }) + '\n');
await source.close();
process.exit(0);
