/**
 * Safe state on every exit path, proved on the simulated bench's ground truth (the relay coils as
 * the sim drove them): `hil run` as a child process, ended every way a run can end. A coil still
 * energised when its board loses power at the sim's shutdown means the harness left it held.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { parse } from 'csv-parse/sync';
import { readObservations } from '../../harness/report/observations-jsonl.ts';
import { readGroundTruth, type TruthRecord } from '../../harness/sim/ground-truth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const FIXTURES = path.join(ROOT, 'test/fixtures/safe-state');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(sig: NodeJS.Signals): void;
}

function hilRun(out: string, spec: string, env: Record<string, string> = {}, extra: string[] = []): Child {
  const child = spawn(process.execPath, [HIL, 'run', '--out', out, spec.includes('/') ? spec : path.join(FIXTURES, spec), ...extra], {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const c: Child = {
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    kill: (sig) => child.kill(sig),
  };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (c.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (c.stderr += s));
  return c;
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** The run's ground truth, once the sim has stopped (its last record). */
async function finishedTruth(out: string): Promise<TruthRecord[]> {
  let file = '';
  await until(
    'the sim to stop and flush its ground truth',
    () => {
      const run = fs.existsSync(out) ? fs.readdirSync(out)[0] : undefined;
      file = run ? path.join(out, run, 'ground-truth.jsonl') : '';
      return file !== '' && fs.existsSync(file) && readGroundTruth(file).some((r) => r.src === 'bench' && r.kind === 'stop');
    },
    15_000,
  );
  return readGroundTruth(file);
}

/**
 * Coils of a board still energised when the board lost power (the sim's shutdown floats the
 * pins, which would release everything: so only what the harness released before counts).
 */
function heldAtShutdown(truth: TruthRecord[], board: string): string[] {
  const off = truth.find((r) => r.src === board && r.kind === 'power' && r.on === false);
  expect(off, `${board} power-off record`).to.not.equal(undefined);
  const state = new Map<string, boolean>();
  for (const r of truth) if (r.kind === 'coil' && r.src.startsWith(`${board}:`) && r.t < off!.t) state.set(r.src, r.on as boolean);
  return [...state].filter(([, on]) => on).map(([k]) => k);
}

function everEnergised(truth: TruthRecord[], coil: string): boolean {
  return truth.some((r) => r.kind === 'coil' && r.src === coil && r.on === true);
}

describe('safe state on every exit path (hil run on the simulated bench)', function () {
  this.timeout(90_000);
  let out: string;

  beforeEach(function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-safe-'));
  });

  afterEach(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('test failure, thrown error, property timeout and normal end: parked each time, nothing pressed after', async function () {
    const c = hilRun(out, 'inline.spec.ts');
    const { code } = await c.exited;
    const truth = await finishedTruth(out);
    const stdout = stripVTControlCharacters(c.stdout);
    expect(stdout, stdout + c.stderr).to.match(/^2 passed, 3 failed$/m);
    expect(stdout).to.contain('✔ checker: every ending parked the relays');
    expect(code).to.equal(1);
    for (const b of ['PRESSURE_UP', 'PRESSURE_DOWN', 'PUMP_TERTIARY_ON']) expect(everEnergised(truth, `relays-a:${b}`), b).to.equal(true);
    expect(heldAtShutdown(truth, 'relays-a')).to.deep.equal([]);
    expect(heldAtShutdown(truth, 'relays-b')).to.deep.equal([]);
  });

  for (const signals of [['SIGINT'], ['SIGTERM'], ['SIGINT', 'SIGINT']] as NodeJS.Signals[][]) {
    it(`${signals.join(' + ')} while a button is held: released, exit 130`, async function () {
      const c = hilRun(out, 'hold.spec.ts');
      await until('the fixture to hold its button', () => c.stdout.includes('FIXTURE: HELD'), 30_000);
      for (const [i, s] of signals.entries()) {
        // Signals of one kind that arrive together coalesce into one: space them a little.
        if (i > 0) await sleep(20);
        c.kill(s);
      }
      const { code } = await c.exited;
      const truth = await finishedTruth(out);
      expect(code, c.stderr).to.equal(130);
      expect(c.stderr).to.contain(`${signals[0]}: stopping the run, releasing the bench`);
      if (signals.length > 1) expect(c.stderr).to.contain('SIGINT again: exiting now; relays released.');
      expect(everEnergised(truth, 'relays-a:PRESSURE_UP')).to.equal(true);
      expect(heldAtShutdown(truth, 'relays-a')).to.deep.equal([]);
    });
  }

  it('an uncaught exception that kills the harness: released on the way out', async function () {
    const c = hilRun(out, 'hold.spec.ts', { HIL_FIXTURE_END: 'crash' });
    const { code } = await c.exited;
    const truth = await finishedTruth(out);
    expect(c.stderr).to.contain('deliberate crash outside any handler');
    expect(code).to.not.equal(0);
    expect(everEnergised(truth, 'relays-a:PRESSURE_UP')).to.equal(true);
    expect(heldAtShutdown(truth, 'relays-a')).to.deep.equal([]);
  });
  it('SIGINT mid-burst: exit 130, relays released, and every report file valid and complete so far', async function () {
    const c = hilRun(out, 'scenarios/40-bursts.spec.ts', {}, ['--grep', 'densest']);
    let run = '';
    await until(
      'presses in the recorded observations',
      () => {
        const d = fs.existsSync(out) ? fs.readdirSync(out)[0] : undefined;
        run = d ? path.join(out, d) : '';
        const f = path.join(run, 'observations.jsonl');
        return run !== '' && fs.existsSync(f) && (fs.readFileSync(f, 'utf8').match(/"kind":"press"/g) ?? []).length >= 20;
      },
      30_000,
    );
    c.kill('SIGINT');
    const { code } = await c.exited;
    expect(code, c.stderr).to.equal(130);
    expect(c.stderr).to.match(/report \(interrupted run\): .*report\.html/);
    const truth = await finishedTruth(out);
    expect(heldAtShutdown(truth, 'relays-a')).to.deep.equal([]);
    const csv = (f: string) => parse<Record<string, string>>(fs.readFileSync(path.join(run, f), 'utf8'), { columns: true });
    const summary = csv('summary.csv');
    expect(summary.map((r) => [r.suite, r.test, r.outcome])).to.deep.equal([['bursts', 'the densest burst the relays can make: bounded queue, refusals reported, every press handled once', 'ABORTED']]);
    const events = csv('events.csv');
    expect(events.length, 'presses recorded up to the interrupt').to.be.greaterThan(0);
    expect(csv('violations.csv').length).to.be.at.least(1);
    const obs = await readObservations(path.join(run, 'observations.jsonl'));
    expect(obs.filter((o) => o.kind === 'press').length).to.be.at.least(20);
    expect(fs.readFileSync(path.join(run, 'junit.xml'), 'utf8')).to.match(/<skipped message="ABORTED: /);
    expect(fs.existsSync(path.join(run, 'report.html'))).to.equal(true);
  });
});
