/**
 * A dead bench ends the run as a bench fault: once the bench process is gone, every remaining
 * test is ERROR with the cause and nothing runs against it; a failing hook is a verdict on the
 * tests it covers; no test is ever missing from summary.csv or junit.xml.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { readObservations } from '../../harness/report/observations-jsonl.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const FIXTURES = path.join(ROOT, 'test/fixtures/dead-bench');

describe('a dead bench ends the run as a bench fault (hil run on the simulated bench)', function () {
  this.timeout(120_000);
  let out: string;

  beforeEach(function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-dead-'));
  });

  afterEach(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('bench process killed mid-run, more spec files after it: every later test ERROR with the cause, none missing', async function () {
    const specs = fs.readdirSync(FIXTURES).sort().map((f) => path.join(FIXTURES, f));
    const child = spawn(process.execPath, [HIL, 'run', '--out', out, ...specs], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const ctx = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    expect(code, ctx).to.equal(1);
    expect(stdout + stderr, ctx).to.not.match(/Uncaught|EIO|ERR_MOCHA_MULTIPLE_DONE/);
    const run = path.join(out, fs.readdirSync(out)[0]!);
    const summary = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'summary.csv'), 'utf8'), { columns: true });
    // Suite and title are separate columns; the run-level latency row is the run's, not a test's.
    const tests = summary.filter((r) => r.scenario !== 'run');
    const title = (r: Record<string, string>): string => (r.suite ? `${r.suite} ${r.test!}` : r.test!);
    const verdicts: Record<string, string> = Object.fromEntries(tests.map((r) => [title(r), r.outcome!]));
    expect(verdicts, ctx).to.deep.equal({
      'setup that breaks covered by the broken before hook, one': 'ERROR',
      'setup that breaks covered by the broken before hook, two': 'ERROR',
      'each-hooks that break a broken beforeEach first test under the broken beforeEach': 'ERROR',
      'each-hooks that break a broken beforeEach second test under the broken beforeEach': 'ERROR',
      'each-hooks that break a broken afterEach passes, then its afterEach fails': 'ERROR',
      'each-hooks that break a broken afterEach skipped after the afterEach failed': 'ERROR',
      'bench dies passes while the bench is up': 'PASS',
      'bench dies the bench process dies during this test': 'ERROR',
      'after the bench died would pass without touching the bench': 'ERROR',
      'after the bench died waits for the panel to be idle': 'ERROR',
      'heartbeats after the bench died watches the heartbeats for a second': 'ERROR',
    });
    const why: Record<string, string> = Object.fromEntries(tests.map((r) => [title(r), r.violations!]));
    expect(why['setup that breaks covered by the broken before hook, one']).to.contain('before all hook failed').and.to.contain('deliberate failure in a before hook');
    expect(why['each-hooks that break a broken beforeEach first test under the broken beforeEach']).to.contain('before each hook failed');
    expect(why['each-hooks that break a broken beforeEach second test under the broken beforeEach']).to.contain('before each hook failed');
    expect(why['each-hooks that break a broken afterEach passes, then its afterEach fails']).to.contain('after each hook failed');
    expect(why['each-hooks that break a broken afterEach skipped after the afterEach failed']).to.contain('after each hook failed');
    for (const t of ['after the bench died would pass without touching the bench', 'after the bench died waits for the panel to be idle', 'heartbeats after the bench died watches the heartbeats for a second']) {
      expect(why[t], t).to.contain('the simulated bench exited mid-run');
    }
    // Every test in junit.xml too, with the same verdicts.
    const junit = fs.readFileSync(path.join(run, 'junit.xml'), 'utf8');
    // Eleven tests and the run-level latency row (pooled over what the tests measured before the bench died).
    expect((junit.match(/<testcase /g) ?? []).length).to.equal(12);
    expect(junit).to.match(/tests="12" failures="0" errors="10"/);
    // Nothing ran against the dead bench: no press after the bench was lost.
    const obs = await readObservations(path.join(run, 'observations.jsonl'));
    const lost = obs.find((o) => o.kind === 'bench_lost');
    expect(lost, 'a harness.bench_lost observation').to.not.equal(undefined);
    expect(obs.filter((o) => o.kind === 'press' && o.t > lost!.t).length, 'presses after the bench was lost').to.equal(0);
  });
});
