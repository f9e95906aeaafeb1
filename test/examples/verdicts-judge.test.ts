// How the verdict matrix reads a run folder: the counterexample of the failed property is found
// although the replay file names the test by its full title and summary.csv splits suite and test.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { judgeRun, matrixRows, summarise } from '../../bench/verdicts.ts';

describe('verdict matrix: judging a recorded run', function () {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-judge-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes the shrunk counterexample of the failed property, and counts its presses', function () {
    const row = matrixRows().find((r) => r.firmware === 'panel-ids' && r.bug === 'emergency-priority')!;
    const test = 'property: every invariant holds for any burst the rig can perform';
    fs.writeFileSync(
      path.join(dir, 'summary.csv'),
      stringify(
        [
          { scenario: '40-bursts.spec.ts', suite: 'bursts', test, outcome: 'FAIL', duration_ms: '1000' },
          { scenario: 'run', suite: '', test: 'latency over the whole run (pooled)', outcome: 'PASS', duration_ms: '0' },
        ],
        { header: true },
      ),
    );
    fs.writeFileSync(path.join(dir, 'violations.csv'), stringify([{ suite: 'bursts', test, invariant: 'order', device: 'pi', host_time_ms: '1500', detail: 'pi took press #3 (EMERGENCY) before press #2: not FIFO' }], { header: true }));
    fs.mkdirSync(path.join(dir, 'replay'));
    const cx = JSON.stringify([{ button: 'PRESSURE_UP', atMs: 0, holdMs: 30 }, { button: 'PUMP_PRIMARY_ON', atMs: 2.5, holdMs: 30 }, { button: 'EMERGENCY', atMs: 5, holdMs: 30 }]);
    fs.writeFileSync(path.join(dir, 'replay', 'bursts.json'), JSON.stringify({ test: `bursts ${test}`, counterexample: cx, shrinking: 'budget' }));
    const r = judgeRun(row, dir);
    expect(r.verdict).to.equal('FAIL');
    expect(r.invariant).to.equal('order');
    expect(r.counterexample).to.equal(cx);
    expect(r.counterexampleSize).to.equal(3);
    expect(r.firstFailureS).to.equal(1.5);
    // The budget stopped its shrinking: the row says so beside the size.
    expect(r.shrinking).to.equal('budget');
    expect(summarise(row, [r])).to.deep.include({ counterexampleSize: '3', shrinking: 'stopped by budget' });

    // A counterexample whose reruns all passed (an intermittent failure): the row says that too.
    fs.writeFileSync(path.join(dir, 'replay', 'bursts.json'), JSON.stringify({ test: `bursts ${test}`, counterexample: cx, shrinking: 'complete', confirmed: false }));
    const racy = judgeRun(row, dir);
    expect(racy.shrinking).to.equal('complete, not confirmed');
    expect(summarise(row, [racy])).to.deep.include({ shrinking: 'complete, not confirmed' });
    fs.writeFileSync(path.join(dir, 'replay', 'bursts.json'), JSON.stringify({ test: `bursts ${test}`, counterexample: cx, shrinking: 'budget', confirmed: false }));
    expect(summarise(row, [judgeRun(row, dir)])).to.deep.include({ shrinking: 'stopped by budget, not confirmed' });
    fs.writeFileSync(path.join(dir, 'replay', 'bursts.json'), JSON.stringify({ test: `bursts ${test}`, counterexample: cx, shrinking: 'complete', confirmed: true }));
    expect(judgeRun(row, dir).shrinking).to.equal('complete');
  });

  it('a death line between tests blames the firmware as hil run does; a passing run-level row is no test', function () {
    const row = matrixRows().find((r) => r.firmware === 'panel-racy' && r.bug === 'rod-typo')!;
    const title = 'forbidden line between tests';
    const detail = "pi printed a forbidden line (/Traceback \\(most recent call last\\)/) at #812: Traceback (most recent call last):";
    fs.writeFileSync(
      path.join(dir, 'summary.csv'),
      stringify(
        [
          { scenario: '00-smoke.spec.ts', suite: 'smoke', test: 'pi: boots and sends heartbeats', outcome: 'PASS', duration_ms: '500' },
          { scenario: 'run', suite: '', test: 'latency over the whole run (pooled)', outcome: 'PASS', duration_ms: '0' },
          { scenario: 'run', suite: '', test: title, outcome: 'FAIL', duration_ms: '0' },
        ],
        { header: true },
      ),
    );
    fs.writeFileSync(path.join(dir, 'violations.csv'), stringify([{ suite: '', test: title, invariant: 'death-pattern', device: 'pi', host_time_ms: '', detail }], { header: true }));
    const r = judgeRun(row, dir);
    expect([r.verdict, r.invariant, r.failedTests]).to.deep.equal(['FAIL', 'death-pattern', [`FAIL ${title}`]]);
    // The same run without it: the passing run-level row is not counted as a test that ran.
    fs.writeFileSync(path.join(dir, 'violations.csv'), 'suite,test,invariant,device,host_time_ms,detail\n');
    fs.writeFileSync(path.join(dir, 'summary.csv'), stringify([{ scenario: 'run', suite: '', test: 'latency over the whole run (pooled)', outcome: 'PASS', duration_ms: '0' }], { header: true }));
    expect(judgeRun(row, dir)).to.include({ verdict: 'ERROR', invariant: 'no tests ran' });
  });

  it('a healthy row counts the runs that blamed the firmware as false failures, and a bench ERROR apart from them', function () {
    const row = matrixRows().find((r) => r.bug === 'healthy')!;
    const run = (verdict: 'PASS' | 'FAIL' | 'HUNG' | 'ERROR') => ({ verdict, invariant: verdict === 'PASS' ? '' : 'exactly-once', detail: '', firstFailureS: undefined, counterexample: '', counterexampleSize: undefined, shrinking: '', failedTests: [], reportDir: `r-${verdict}` });
    const r = summarise(row, [run('PASS'), run('ERROR'), run('FAIL'), run('HUNG'), run('PASS')]);
    expect([r.runs, r.falseFailures, r.benchErrors, r.intended]).to.deep.equal([5, '2', '1', 'no']);
    expect(summarise(row, [run('PASS'), run('ERROR')])).to.deep.include({ falseFailures: '0', benchErrors: '1' });
  });
});
