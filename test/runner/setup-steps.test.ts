/**
 * Setup steps with real child processes (`sh -c` scripts): output into the log, retries proved by
 * a counter file, timeouts that kill the whole process group (a child that ignores SIGTERM), Ctrl-C.
 */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RigFault } from '../../harness/core/errors.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import type { Observation } from '../../harness/core/observation.ts';
import { runSetupSteps, SetupStepError, validateSetupSteps, type SetupStep } from '../../harness/runner/setup-steps.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process is gone when /proc no longer lists it or it is a zombie (killed, not yet reaped by init). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitForFile(file: string, withinMs: number): Promise<string> {
  const t0 = Date.now();
  while (Date.now() - t0 < withinMs) {
    if (fs.existsSync(file)) {
      const s = fs.readFileSync(file, 'utf8').trim();
      if (s) return s;
    }
    await sleep(10);
  }
  throw new Error(`${file} did not appear within ${withinMs} ms`);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection, the promise resolved');
}

function setupObs(log: ObservationLog): Observation[] {
  return [...log.since(0)].filter((o) => o.source === 'setup');
}

describe('setup steps', function () {
  let dir: string;
  let log: ObservationLog;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-setup-'));
    log = new ObservationLog();
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs steps in order and records every output line with its step, stream and attempt', async function () {
    const seen: string[] = [];
    const steps: SetupStep[] = [
      { name: 'first', run: `echo one; echo two >&2; printf 'three'; echo first >> ${dir}/order`, timeoutMs: 2000 },
      { name: 'second', run: `echo second >> ${dir}/order; printf 'a\\r\\nb\\rc\\n'`, timeoutMs: 2000 },
    ];
    const results = await runSetupSteps(steps, log, { onOutput: (step, line) => seen.push(`${step}:${line}`) });

    expect(results.map((r) => r.name)).to.deep.equal(['first', 'second']);
    expect(results.map((r) => r.attempts.map((a) => a.outcome))).to.deep.equal([['ok'], ['ok']]);
    expect(fs.readFileSync(path.join(dir, 'order'), 'utf8')).to.equal('first\nsecond\n');

    const out = setupObs(log).filter((o) => o.kind === 'output');
    const lines = (step: string, stream: string) => out.filter((o) => o.fields?.step === step && o.fields?.stream === stream).map((o) => o.text);
    expect(lines('first', 'stdout')).to.deep.equal(['one', 'three']); // the unterminated last line too
    expect(lines('first', 'stderr')).to.deep.equal(['two']);
    expect(lines('second', 'stdout')).to.deep.equal(['a', 'b', 'c']); // \r\n and a lone \r both end a line
    expect(out.every((o) => o.fields?.attempt === 1)).to.equal(true);
    expect(seen).to.include.members(['first:one', 'first:two', 'first:three', 'second:a', 'second:c']);

    const frames = setupObs(log).filter((o) => o.kind !== 'output').map((o) => `${o.kind} ${String(o.fields?.step)} ${o.fields?.outcome ?? ''}`.trim());
    expect(frames).to.deep.equal(['step_start first', 'step_end first ok', 'step_start second', 'step_end second ok']);
    const end = setupObs(log).find((o) => o.kind === 'step_end')!;
    expect(end.fields).to.include({ code: 0, attempt: 1 });
    expect(end.fields?.ms).to.be.a('number');
  });

  it('an argv step runs without a shell; cwd and env reach the command', async function () {
    await runSetupSteps(
      [
        { name: 'argv', run: ['printf', '%s\\n', '$HOME; echo injected'], timeoutMs: 2000 },
        { name: 'env', run: 'pwd; echo "$HIL_SETUP_TEST"', timeoutMs: 2000, cwd: dir, env: { HIL_SETUP_TEST: 'from-the-rig' } },
      ],
      log,
    );
    const text = (step: string) => setupObs(log).filter((o) => o.kind === 'output' && o.fields?.step === step).map((o) => o.text);
    expect(text('argv')).to.deep.equal(['$HOME; echo injected']);
    expect(text('env')).to.deep.equal([fs.realpathSync(dir), 'from-the-rig']);
  });

  it('retries a failing step until it succeeds (a counter file counts the attempts)', async function () {
    const counter = path.join(dir, 'count');
    const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo "attempt $n"; [ $n -ge 3 ]`;
    const [r] = await runSetupSteps([{ name: 'flaky', run: script, timeoutMs: 2000, retries: 3, retryDelayMs: 20 }], log);

    expect(fs.readFileSync(counter, 'utf8').trim()).to.equal('3'); // stopped at the first success
    expect(r!.attempts.map((a) => [a.attempt, a.outcome, a.code])).to.deep.equal([
      [1, 'failed', 1],
      [2, 'failed', 1],
      [3, 'ok', 0],
    ]);
    const ends = setupObs(log).filter((o) => o.kind === 'step_end').map((o) => `${o.fields?.attempt}:${o.fields?.outcome}`);
    expect(ends).to.deep.equal(['1:failed', '2:failed', '3:ok']);
    const out = setupObs(log).filter((o) => o.kind === 'output').map((o) => `${o.fields?.attempt}:${o.text}`);
    expect(out).to.deep.equal(['1:attempt 1', '2:attempt 2', '3:attempt 3']);
  });

  it('a step that still fails after its retries throws a SetupStepError (a RigFault) naming the step, the attempts, the code and the last 20 lines; later steps do not run', async function () {
    const counter = path.join(dir, 'count');
    const marker = path.join(dir, 'later-step-ran');
    const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; for i in $(seq 1 30); do echo "L$i."; done; echo "attempt $n failing" >&2; exit 4`;
    const e = await rejection(
      runSetupSteps(
        [
          { name: 'flash-esp', run: script, timeoutMs: 2000, retries: 1, retryDelayMs: 0 },
          { name: 'later', run: `touch ${marker}`, timeoutMs: 2000 },
        ],
        log,
      ),
    );
    expect(e).to.be.instanceOf(SetupStepError);
    expect(e).to.be.instanceOf(RigFault);
    const err = e as SetupStepError;
    expect(err.rigFault).to.equal(true);
    expect(err.name).to.equal('SetupStepError');
    expect(err.step).to.equal('flash-esp');
    expect(err.attempts.map((a) => a.code)).to.deep.equal([4, 4]);
    expect(fs.readFileSync(counter, 'utf8').trim()).to.equal('2');
    expect(fs.existsSync(marker)).to.equal(false);

    expect(err.message).to.match(/^setup step "flash-esp" failed after 2 attempts \(1: exit 4, 2: exit 4\): the last exited with code 4 after \d+ ms/);
    expect(err.tail).to.have.length(20);
    expect(err.message).to.include('err| attempt 2 failing');
    expect(err.message).to.include('out| L30.');
    expect(err.message).to.include('out| L12.');
    expect(err.message).not.to.include('L11.'); // 19 stdout lines + 1 stderr line = the last 20
    expect(err.message).not.to.include('attempt 1 failing'); // only the last attempt's output
    expect(setupObs(log).some((o) => o.fields?.step === 'later')).to.equal(false);
  });

  it('a timeout kills the whole process group: SIGTERM first, SIGKILL 2 s later for what ignores it', async function () {
    this.timeout(6000);
    const shPid = path.join(dir, 'sh.pid');
    const childPid = path.join(dir, 'child.pid');
    // The shell and its background child both ignore SIGTERM (the ignore is inherited).
    const script = `trap '' TERM; echo $$ > ${shPid}; sleep 30 & echo $! > ${childPid}; echo started; wait; echo survived`;
    const t0 = Date.now();
    const p = runSetupSteps([{ name: 'stuck', run: script, timeoutMs: 300 }], log);
    const pids = [Number(await waitForFile(shPid, 1000)), Number(await waitForFile(childPid, 1000))];
    expect(pids.every(alive)).to.equal(true);
    await sleep(800); // past the deadline and SIGTERM: both still there
    expect(pids.every(alive), 'SIGTERM is ignored, so both live until SIGKILL').to.equal(true);

    const err = (await rejection(p)) as SetupStepError;
    const ms = Date.now() - t0;
    expect(err).to.be.instanceOf(SetupStepError);
    expect(ms).to.be.within(2250, 3500); // 300 ms deadline + 2 s grace (upper bound: a loaded machine)
    expect(pids.some(alive), 'the grandchild too: the group was killed, not just the shell').to.equal(false);
    expect(err.last.outcome).to.equal('timeout');
    expect(err.message).to.include('timed out after 300 ms (its process group was killed)');
    expect(err.message).to.include('out| started');
    expect(err.message).not.to.include('out| survived');
    const end = setupObs(log).find((o) => o.kind === 'step_end')!;
    expect(end.fields).to.include({ outcome: 'timeout', signal: 'SIGKILL' });
  });

  it('a timed-out step that handles SIGTERM ends at once, and is retried', async function () {
    const script = `trap 'echo got TERM; exit 3' TERM; echo waiting; while :; do sleep 0.05; done`;
    const t0 = Date.now();
    const err = (await rejection(runSetupSteps([{ name: 'polite', run: script, timeoutMs: 200, retries: 1, retryDelayMs: 0 }], log))) as SetupStepError;
    expect(Date.now() - t0).to.be.below(1500); // no 2 s wait for SIGKILL on either attempt
    expect(err.attempts.map((a) => a.outcome)).to.deep.equal(['timeout', 'timeout']);
    expect(err.message).to.include('out| got TERM');
    expect(err.message).to.match(/failed after 2 attempts \(1: timeout, 2: timeout\)/);
  });

  it('an abort (Ctrl-C) kills the running step and rejects promptly; nothing after it runs', async function () {
    const pidFile = path.join(dir, 'pid');
    const marker = path.join(dir, 'later-step-ran');
    const ac = new AbortController();
    const p = runSetupSteps(
      [
        { name: 'long', run: `echo $$ > ${pidFile}; sleep 30`, timeoutMs: 60_000 },
        { name: 'later', run: `touch ${marker}`, timeoutMs: 2000 },
      ],
      log,
      { signal: ac.signal },
    );
    const pid = Number(await waitForFile(pidFile, 1000));
    const t0 = Date.now();
    ac.abort(new Error('Ctrl-C'));
    const err = await rejection(p);
    expect(Date.now() - t0).to.be.below(1000);
    expect((err as Error).message).to.equal('Ctrl-C');
    expect(err).not.to.be.instanceOf(SetupStepError);
    expect(alive(pid)).to.equal(false);
    expect(fs.existsSync(marker)).to.equal(false);
    expect(setupObs(log).find((o) => o.kind === 'step_end')?.fields).to.include({ step: 'long', outcome: 'aborted' });
  });

  it('an abort during the pause between retries rejects at once', async function () {
    const ac = new AbortController();
    const p = runSetupSteps([{ name: 'fails', run: 'exit 1', timeoutMs: 2000, retries: 5, retryDelayMs: 10_000 }], log, { signal: ac.signal });
    await log.waitFor({ topic: 'setup.step_end' }, { within: 2000, from: 0 });
    const t0 = Date.now();
    ac.abort(new Error('stop'));
    expect(((await rejection(p)) as Error).message).to.equal('stop');
    expect(Date.now() - t0).to.be.below(500); // not the 10 s pause
    expect(setupObs(log).filter((o) => o.kind === 'step_start')).to.have.length(1);
  });

  it('an already aborted signal runs nothing', async function () {
    const marker = path.join(dir, 'ran');
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(runSetupSteps([{ name: 'x', run: `touch ${marker}`, timeoutMs: 2000 }], log, { signal: ac.signal }));
    expect(err).to.be.instanceOf(Error);
    expect(fs.existsSync(marker)).to.equal(false);
  });

  it('a program that cannot start fails without retries and says why', async function () {
    const err = (await rejection(runSetupSteps([{ name: 'tool', run: [path.join(dir, 'no-such-tool'), '--flash'], timeoutMs: 2000, retries: 3, retryDelayMs: 0 }], log))) as SetupStepError;
    expect(err).to.be.instanceOf(SetupStepError);
    expect(err.attempts).to.have.length(1);
    expect(err.message).to.match(/setup step "tool" failed after 1 attempt: the last could not start: spawn .*no-such-tool ENOENT \(is the program installed and on PATH\?\)/);
    expect(err.message).to.include('it printed nothing');

    const err2 = (await rejection(runSetupSteps([{ name: 'where', run: 'true', timeoutMs: 2000, cwd: path.join(dir, 'missing') }], log))) as SetupStepError;
    expect(err2.message).to.include(`could not start: its cwd ${path.join(dir, 'missing')} is not a directory`);
  });

  it('kills what a successful step left running in its group', async function () {
    const pidFile = path.join(dir, 'bg.pid');
    await runSetupSteps([{ name: 'leaky', run: `sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}`, timeoutMs: 2000 }], log);
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    expect(alive(pid)).to.equal(false);
    expect(setupObs(log).some((o) => o.kind === 'note' && o.fields?.step === 'leaky')).to.equal(true);
  });
});

describe('validateSetupSteps', function () {
  it('accepts valid steps', function () {
    expect(
      validateSetupSteps(
        [
          { name: 'flash-esp', run: ['pio', 'run', '-t', 'upload'], timeoutMs: 120_000, retries: 2, retryDelayMs: 5000, cwd: 'firmware/esp', env: { PLATFORMIO_UPLOAD_PORT: '/dev/ttyUSB0' } },
          { name: 'deploy-pi', run: 'scp panel.py pi@panel:/opt/panel/ && ssh pi@panel sudo systemctl restart panel', timeoutMs: 60_000 },
        ],
        'setup',
      ),
    ).to.deep.equal([]);
    expect(validateSetupSteps([], 'setup')).to.deep.equal([]);
    expect(validateSetupSteps(undefined)).to.deep.equal([]); // a rig without setup steps
  });

  it('names every problem with its path, what was expected and what was found', function () {
    const problems = validateSetupSteps(
      [
        { name: 'a', run: 'true', timeoutMs: 1000 },
        { name: 'a', run: [], timeoutMs: '5s', retries: 1.5, retryDelayMs: -1, env: { X: 1 }, timeout: 5 },
        'flash',
      ],
      'setup',
    );
    expect(problems).to.have.members([
      'setup[1].timeout: expected no such field (a step has name, run, timeoutMs, retries, retryDelayMs, cwd, env), found 5',
      'setup[1].name: expected a name not already used (setup[0] uses it), found "a"',
      'setup[1].run: expected a shell command string or a non-empty argv array of strings, found []',
      'setup[1].timeoutMs: expected a number of ms > 0, found "5s"',
      'setup[1].retries: expected a whole number ≥ 0, found 1.5',
      'setup[1].retryDelayMs: expected a number of ms ≥ 0, found -1',
      'setup[1].env.X: expected a string, found 1',
      'setup[2]: expected an object { name, run, timeoutMs, … }, found "flash"',
    ]);
    expect(validateSetupSteps(null)).to.deep.equal(['setup: expected a list of setup steps [{ name, run, timeoutMs, … }], found null']);
    expect(validateSetupSteps({ name: 'x' }, 'setup')).to.deep.equal(['setup: expected a list of setup steps [{ name, run, timeoutMs, … }], found {"name":"x"}']);
    expect(validateSetupSteps([{ name: 'x', run: 'true' }], 'setup')).to.deep.equal(['setup[0].timeoutMs: expected a number of ms > 0, found undefined']);
  });
});

describe('hil run with setup steps', function () {
  this.timeout(60_000); // a whole smoke run (its clock check watches 6 s of output) after the setup steps
  let dir: string;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-setup-run-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
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
    // Every attempt in setup.csv, with its output.
    const setup = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'setup.csv'), 'utf8'), { columns: true });
    expect(setup.map((x) => [x.step, x.attempt, x.outcome, x.code])).to.deep.equal([
      ['say hello', '1', 'ok', '0'],
      ['flash esp', '1', 'failed', '2'],
      ['flash esp', '2', 'failed', '2'],
    ]);
    expect(setup[2]!.output_tail).to.equal('err| esptool: A fatal error occurred: Failed to connect to ESP32');
    expect(fs.readFileSync(path.join(run, 'report.html'), 'utf8')).to.match(/<h2>Bench preparation<\/h2>[^]*data-step="flash esp"/);
  });

  it('hil run: steps that succeed are in setup.csv and the report, and the scenarios run after them', function () {
    const r = spawnSync(process.execPath, [path.resolve('bin/hil.js'), 'run', 'scenarios/00-smoke.spec.ts', '--rig', 'test/fixtures/rigs/sim-with-setup.ts', '--out', dir], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    const run = path.join(dir, fs.readdirSync(dir)[0]!);
    const setup = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'setup.csv'), 'utf8'), { columns: true });
    expect(setup).to.have.length(1);
    expect(setup[0]!).to.include({ step: 'deploy panel', attempt: '1', outcome: 'ok', code: '0', output_lines: '2' });
    expect(setup[0]!.output_tail!.split('\n').sort()).to.deep.equal(['err| restarting panel.service', 'out| copying panel.py']);
    expect(Number(setup[0]!.host_start_ms!)).to.be.at.least(0);
    const summary = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'summary.csv'), 'utf8'), { columns: true });
    expect(summary.length).to.be.greaterThan(0);
    expect(summary.every((x) => x.outcome === 'PASS')).to.equal(true);
    const html = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
    expect(html).to.contain('<h2>Bench preparation</h2>');
    expect(html).to.contain('copying panel.py');
  });
});
