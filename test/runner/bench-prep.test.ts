/** Bench preparation steps: real child processes, output into the log, retries, timeouts, abort. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { runSetupSteps, SetupStepError, validateSetupSteps } from '../../harness/runner/bench-prep.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function rejection(p: Promise<unknown>): Promise<SetupStepError> {
  return p.then(
    () => {
      throw new Error('expected the steps to fail');
    },
    (e: unknown) => e as SetupStepError,
  );
}

describe('bench preparation steps', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-prep-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs steps in order; every output line is in the log with its step and stream', async function () {
    const log = new ObservationLog();
    const r = await runSetupSteps(
      [
        { name: 'one', run: 'echo first; echo oops >&2', timeoutMs: 5000 },
        { name: 'two', run: ['node', '-e', 'console.log("second")'], timeoutMs: 5000 },
      ],
      log,
    );
    expect(r.map((x) => [x.name, x.attempts])).to.deep.equal([
      ['one', 1],
      ['two', 1],
    ]);
    log.flush();
    const out = [...log.since(0)].filter((o) => o.kind === 'output').map((o) => `${String(o.fields?.step)}/${String(o.fields?.stream)}: ${o.text}`);
    expect(out).to.have.members(['one/stdout: first', 'one/stderr: oops', 'two/stdout: second']);
    expect([...log.since(0)].filter((o) => o.kind === 'step_end').map((o) => o.fields?.outcome)).to.deep.equal(['ok', 'ok']);
  });

  it('retries a failing step and goes on when it succeeds', async function () {
    const counter = path.join(dir, 'n');
    const log = new ObservationLog();
    // Fails twice, then succeeds.
    const run = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo attempt $n; [ $n -ge 3 ]`;
    await runSetupSteps([{ name: 'flaky', run, timeoutMs: 5000, retries: 2, retryDelayMs: 10 }], log);
    log.flush();
    expect([...log.since(0)].filter((o) => o.kind === 'step_end').map((o) => o.fields?.outcome)).to.deep.equal(['failed', 'failed', 'ok']);
  });

  it('a step that still fails: SetupStepError (a rig fault) naming the step, attempts, exit code and its last lines; later steps do not run', async function () {
    const log = new ObservationLog();
    const e = await rejection(
      runSetupSteps(
        [
          { name: 'flash', run: 'echo connecting...; echo "Failed to connect" >&2; exit 3', timeoutMs: 5000, retries: 1, retryDelayMs: 10 },
          { name: 'never', run: `touch ${path.join(dir, 'ran')}`, timeoutMs: 5000 },
        ],
        log,
      ),
    );
    expect(e).to.be.instanceOf(SetupStepError);
    expect(e.rigFault).to.equal(true);
    expect(e.message).to.match(/^bench preparation failed: step "flash" exited with code 3 \(2 attempts\)\. Last output:\n {2}connecting\.\.\.\n/);
    expect(e.message).to.contain('Failed to connect');
    expect(fs.existsSync(path.join(dir, 'ran'))).to.equal(false);
  });

  it('a step that hangs is killed with its whole process group at the timeout', async function () {
    const pidFile = path.join(dir, 'pid');
    const log = new ObservationLog();
    const t0 = Date.now();
    // The shell ignores SIGTERM; its child sleeps. Both must go.
    const e = await rejection(runSetupSteps([{ name: 'hang', run: `trap '' TERM; sleep 30 & echo $! > ${pidFile}; wait`, timeoutMs: 400 }], log));
    expect(e.message).to.match(/step "hang" timed out after 400 ms \(1 attempt\)/);
    expect(Date.now() - t0).to.be.below(6000);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid), 'the sleeping grandchild').to.equal(false);
  });

  it('Ctrl-C (an aborted signal) kills the running step and rejects promptly', async function () {
    const ac = new AbortController();
    const log = new ObservationLog();
    setTimeout(() => ac.abort(), 200);
    const t0 = Date.now();
    const e = await rejection(runSetupSteps([{ name: 'long', run: 'sleep 20', timeoutMs: 60_000 }], log, { signal: ac.signal }));
    expect(e.message).to.equal('setup step "long" interrupted');
    expect(Date.now() - t0).to.be.below(4000);
  });

  it('validates a rig\'s setup list, naming each problem', function () {
    expect(validateSetupSteps([{ name: '', run: 5, timeoutMs: 0, retries: -1 }])).to.deep.equal([
      'setup[0].name: expected a non-empty string, found ""',
      'setup[0].run: expected a shell command string or an argv list of strings, found 5',
      'setup[0].timeoutMs: expected a number of ms > 0, found 0',
      'setup[0].retries: expected a whole number ≥ 0, found -1',
    ]);
    expect(validateSetupSteps('flash')).to.deep.equal(['setup: expected a list of steps, found "flash"']);
    expect(validateSetupSteps(undefined)).to.deep.equal([]);
  });

  it('hil run: a failing step ends the run as ERROR with its output, before any port is opened', function () {
    const r = spawnSync(process.execPath, [path.resolve('bin/hil.js'), 'run', '--rig', 'test/fixtures/rigs/sim-failing-setup.ts', '--out', dir], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stdout + r.stderr).to.equal(1);
    expect(r.stderr).to.contain('[setup say hello] hello from setup');
    expect(r.stdout).to.match(/^ERROR .* bench preparation: flash esp$/m);
    expect(r.stdout).to.contain('esptool: A fatal error occurred: Failed to connect to ESP32');
    const run = path.join(dir, fs.readdirSync(dir)[0]!);
    const rows = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'summary.csv'), 'utf8'), { columns: true });
    expect(rows.map((x) => [x.test, x.outcome])).to.deep.equal([['bench preparation: flash esp', 'ERROR']]);
    expect(fs.existsSync(path.join(run, 'ground-truth.jsonl')), 'the sim was never started').to.equal(false);
  });
});
