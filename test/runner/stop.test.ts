/**
 * A stop is a state of the run: once SIGINT/SIGTERM arrives, no relay is energised any more.
 * Judged from the simulated bench's ground truth (the coils as the sim drove them, stamped with
 * the host's monotonic clock, the same clock as the harness's observations): every coil that
 * went on after the harness recorded its stop must be the effect of a command the harness sent
 * before it. Signals land at random points of back-to-back dense bursts, sent to `hil` alone and
 * to its whole process group (a terminal's Ctrl-C), once and twice.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import type { Observation } from '../../harness/core/observation.ts';
import { readObservations } from '../../harness/report/observations-jsonl.ts';
import { readGroundTruth, type TruthRecord } from '../../harness/sim/ground-truth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const FIXTURE = path.join(ROOT, 'test/fixtures/safe-state/bursts.spec.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Coil-on records after the stop that no command sent before the stop explains. Per channel, the
 * k-th coil-on once the harness had taken the board over is the k-th energise it sent (a channel is
 * released between presses). Coils the board's own boot state energised come before that.
 */
export function unexplainedCoilsOn(truth: readonly TruthRecord[], obs: readonly Observation[], stopT: bigint): string[] {
  const ready = new Map<string, bigint>();
  for (const o of obs) if (o.kind === 'board_ready' && !ready.has(o.source)) ready.set(o.source, o.t);
  const energised = new Map<string, bigint[]>();
  for (const o of obs) {
    if (o.kind !== 'output' || o.fields?.active !== 1) continue;
    const key = `${o.source}:${String(o.fields.name)}`;
    (energised.get(key) ?? energised.set(key, []).get(key)!).push(o.t);
  }
  const seen = new Map<string, number>();
  const bad: string[] = [];
  for (const r of truth) {
    if (r.kind !== 'coil' || r.on !== true) continue;
    const since = ready.get(r.src.split(':')[0]!);
    if (since === undefined || r.t < since) continue;
    const k = seen.get(r.src) ?? 0;
    seen.set(r.src, k + 1);
    if (r.t <= stopT) continue;
    const cmd = energised.get(r.src)?.[k];
    if (cmd === undefined || cmd > stopT) {
      bad.push(`${r.src} on ${(Number(r.t - stopT) / 1e6).toFixed(2)} ms after the stop (${cmd === undefined ? 'no command' : `commanded ${(Number(cmd - stopT) / 1e6).toFixed(2)} ms after it`})`);
    }
  }
  return bad;
}

describe('a stop is a state of the run (hil run on the simulated bench)', function () {
  this.timeout(120_000);
  let out: string;

  beforeEach(function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-stop-'));
  });

  afterEach(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  const cases: Array<{ to: 'process' | 'group'; signals: NodeJS.Signals[] }> = [
    { to: 'process', signals: ['SIGINT'] },
    { to: 'group', signals: ['SIGINT'] },
    { to: 'process', signals: ['SIGTERM'] },
    { to: 'group', signals: ['SIGTERM'] },
    { to: 'process', signals: ['SIGINT', 'SIGINT'] },
    { to: 'group', signals: ['SIGINT', 'SIGINT'] },
    { to: 'group', signals: ['SIGINT'] },
    { to: 'process', signals: ['SIGTERM', 'SIGTERM'] },
  ];
  for (const { to, signals } of cases) {
    it(`${signals.join(' + ')} to the ${to === 'group' ? 'whole process group' : 'harness alone'} mid-burst: nothing energised after the stop, reports written`, async function () {
      // Its own process group, as a shell gives a foreground job: the group signal is a terminal's Ctrl-C.
      const child = spawn(process.execPath, [HIL, 'run', '--out', out, FIXTURE], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const send = (sig: NodeJS.Signals) => (to === 'group' ? process.kill(-child.pid!, sig) : child.kill(sig));
      try {
        await until('the fixture to start bursting', () => stdout.includes('FIXTURE: BURSTING'), 60_000);
        // A random point of a burst (one burst of 51 presses takes ~180 ms here).
        const delay = Math.floor(Math.random() * 400);
        await sleep(delay);
        send(signals[0]!);
        if (signals.length > 1) {
          await until('the first stop to be printed', () => stderr.includes('stopping the run'), 10_000);
          await sleep(Math.floor(Math.random() * 20));
          send(signals[1]!);
        }
        const code = await exited;
        const run = path.join(out, fs.readdirSync(out)[0]!);
        await until('the sim to stop and flush its ground truth', () => readGroundTruth(path.join(run, 'ground-truth.jsonl')).some((r) => r.src === 'bench' && r.kind === 'stop'), 15_000);
        const truth = readGroundTruth(path.join(run, 'ground-truth.jsonl'));
        const obs = await readObservations(path.join(run, 'observations.jsonl'));
        const ctx = `signal after ${delay} ms; stderr:\n${stderr}`;
        expect(code, ctx).to.equal(130);
        expect(stderr, ctx).to.contain(`${signals[0]}: stopping the run`);
        if (signals.length > 1) expect(stderr, ctx).to.contain(`${signals[1]} again: exiting now; relays released.`);
        expect(stderr, ctx).to.not.match(/Uncaught|EIO/);
        const stop = obs.find((o) => o.source === 'harness' && o.kind === 'stop');
        expect(stop, `a harness.stop observation; ${ctx}`).to.not.equal(undefined);
        expect(stop!.fields?.signal).to.equal(signals[0]);
        const pressesBefore = obs.filter((o) => o.kind === 'press' && o.t < stop!.t).length;
        expect(pressesBefore, 'presses made before the stop').to.be.greaterThan(0);
        expect(unexplainedCoilsOn(truth, obs, stop!.t), ctx).to.deep.equal([]);
        expect(obs.filter((o) => o.kind === 'output' && o.fields?.active === 1 && o.t > stop!.t).map((o) => String(o.fields?.name)), 'energise commands after the stop').to.deep.equal([]);
        // The bench was left released: every coil off before the boards lost power.
        const off = truth.find((r) => r.src === 'relays-a' && r.kind === 'power' && r.on === false);
        const state = new Map<string, boolean>();
        for (const r of truth) if (r.kind === 'coil' && (off === undefined || r.t < off.t)) state.set(r.src, r.on as boolean);
        expect([...state].filter(([, on]) => on).map(([k]) => k), 'coils still on when the bench powered down').to.deep.equal([]);
        const summary = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'summary.csv'), 'utf8'), { columns: true });
        expect(summary.map((r) => r.outcome), ctx).to.deep.equal(['ABORTED']);
        expect(fs.readFileSync(path.join(run, 'junit.xml'), 'utf8')).to.match(/<skipped message="ABORTED: /);
        expect(fs.existsSync(path.join(run, 'report.html')), 'report.html').to.equal(true);
        expect(fs.readdirSync(run).filter((f) => f.includes('.tmp-')), 'stray temporary files').to.deep.equal([]);
      } finally {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      }
    });
  }
});
