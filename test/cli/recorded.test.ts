/** hil check / report / runs on a real recorded run, without a bench. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validTrace } from '../report/helpers.ts';

const HIL = path.resolve('bin/hil.js');
const hil = (...args: string[]) => {
  const r = spawnSync(process.execPath, [HIL, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('recorded runs: hil check, report, runs', function () {
  this.timeout(90_000);
  let root: string;
  let run: string;

  before(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-recorded-'));
    const r = hil('run', 'scenarios/00-smoke.spec.ts', '--out', root);
    expect(r.code, r.out + r.err).to.equal(0);
    run = path.join(root, fs.readdirSync(root)[0]!);
  });

  after(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('the run left a trace.json that the trace-event schema accepts: a process per device, a slice per test, a track per firmware thread', function () {
    const events = validTrace(path.join(run, 'trace.json'));
    expect(events.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args?.name)).to.deep.equal(['host (harness)', 'device pi', 'device esp']);
    const tests = events.filter((e) => e.ph === 'X' && e.cat === 'test').map((e) => e.name);
    expect(tests).to.include('smoke: device consoles pi: boots and sends heartbeats');
    expect(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && String(e.args?.name).startsWith('thread ')).length).to.be.at.least(3);
    expect(events.filter((e) => e.cat === 'serial').length).to.be.greaterThan(10);
    // Every serial line of the timed companion log is a line the device printed, in order.
    const timed = fs.readFileSync(path.join(run, 'serial', 'pi.timed.log'), 'utf8').split('\n').filter((l) => l.includes('---- test start: '));
    expect(timed.length).to.equal(tests.length);
  });

  it('check re-runs the invariants over the record: every smoke window passes, exit 0', function () {
    const r = hil('check', run);
    expect(r.code, r.out + r.err).to.equal(0);
    expect(r.out).to.match(/^checked 5 test window\(s\) of .* against rig sim-bench, and the latency pooled over the run$/m);
    expect(r.out).to.match(/^PASS {4}latency over the whole run \(pooled\)$/m);
    expect(r.out).to.match(/^PASS {4}smoke: device consoles pi: boots and sends heartbeats$/m);
    expect(r.out).to.contain('every window passes the invariants');
  });

  it('check finds a violation written into the record (a queue over its bound), exit 1', function () {
    const copy = path.join(root, 'tampered');
    fs.cpSync(run, copy, { recursive: true });
    const file = path.join(copy, 'observations.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    // Inside the first window: turn one pi heartbeat into an enqueue reported above capacity.
    const start = lines.findIndex((l) => l.includes('"kind":"window_start"'));
    const k = lines.findIndex((l, j) => j > start && l.includes('"source":"pi"') && l.includes('"kind":"hb"'));
    expect(k, 'a pi heartbeat inside a window').to.be.greaterThan(start);
    const o = JSON.parse(lines[k]!) as { kind: string; fields: Record<string, unknown> };
    o.kind = 'q_put';
    o.fields = { btn: 'PRESSURE_UP', depth: 150, cap: 100 };
    lines[k] = JSON.stringify(o);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const r = hil('check', copy);
    expect(r.code, r.out + r.err).to.equal(1);
    expect(r.out).to.match(/queue-bound on pi at [\d.]+ ms: pi queued .* to depth 150, above its capacity 100/);
    expect(r.out).to.match(/\(was PASS, now FAIL\)/);
  });

  it('check --rig judges the same record with another rig\'s limits', function () {
    const r = hil('check', run, '--rig', 'test/fixtures/rigs/sim-strict-heartbeat.ts');
    expect(r.code, r.out + r.err).to.equal(1);
    expect(r.out).to.match(/against rig sim-strict-heartbeat/);
    expect(r.out).to.match(/heartbeat on pi at [\d.]+ ms: pi thread \w+ has not beaten for/);
  });

  it('report re-renders report.html from the CSVs, and compares two runs', function () {
    fs.rmSync(path.join(run, 'report.html'));
    const r = hil('report', run);
    expect(r.code, r.err).to.equal(0);
    expect(r.out.trim().split('\n')[0]).to.equal(path.join(run, 'report.html'));
    expect(fs.readFileSync(path.join(run, 'report.html'), 'utf8')).to.contain('smoke: device consoles');
    const c = hil('report', run, run);
    expect(c.code, c.err).to.equal(0);
    expect(c.out.split('\n').length).to.be.greaterThan(2);
  });

  it('runs lists the run with its rig and verdict counts', function () {
    const r = hil('runs', '--out', root);
    expect(r.code, r.err).to.equal(0);
    // Five smoke tests and the run-level latency row (a verdict of its own in summary.csv).
    expect(r.out).to.match(new RegExp(`^${path.basename(run)} {2}sim-bench {2}6 PASS$`, 'm'));
  });

  it('a folder that is not a run: exit 2, naming what is missing', function () {
    const r = hil('check', root);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/not a complete run folder — missing observations\.jsonl/);
    expect(hil('report', path.join(root, 'nope')).code).to.equal(2);
  });
  it('a damaged run folder: exit 2 with the file and what is wrong; runs lists it as unreadable and goes on', function () {
    const broken = path.join(root, 'broken');
    fs.cpSync(run, broken, { recursive: true });
    fs.appendFileSync(path.join(broken, 'observations.jsonl'), '{"t":"12","source":"pi"\n');
    const c = hil('check', broken);
    expect(c.code, c.out + c.err).to.equal(2);
    expect(c.err).to.contain('observations.jsonl');
    fs.writeFileSync(path.join(broken, 'run.json'), '{ half');
    const m = hil('check', broken);
    expect(m.code, m.out + m.err).to.equal(2);
    expect(m.err).to.match(/run\.json: not valid JSON .*give --rig/);
    const l = hil('runs', '--out', root);
    expect(l.code, l.err).to.equal(0);
    expect(l.out).to.match(/^broken {2}unreadable: .*run\.json: not valid JSON/m);
    expect(l.out).to.match(new RegExp(`^${path.basename(run)} {2}sim-bench {2}6 PASS$`, 'm'));
    fs.rmSync(broken, { recursive: true });
  });

  it('a run whose rig file is not on this machine: exit 2, saying to give --rig', function () {
    const moved = path.join(root, 'moved');
    fs.cpSync(run, moved, { recursive: true });
    const metaFile = path.join(moved, 'run.json');
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
    meta.rigFile = '/nowhere/rigs/lab-bench-9.ts';
    fs.writeFileSync(metaFile, JSON.stringify(meta));
    const r = hil('check', moved);
    expect(r.code, r.out + r.err).to.equal(2);
    expect(r.err).to.match(/rig file \/nowhere\/rigs\/lab-bench-9\.ts is not here .*give --rig sim-bench/);
    expect(hil('check', moved, '--rig', 'sim-bench').code).to.equal(0);
    fs.rmSync(moved, { recursive: true });
  });
  it('check judges lines between tests as hil run did: a death line there fails the run, exit 1', function () {
    const copy = path.join(root, 'death-between');
    fs.cpSync(run, copy, { recursive: true });
    const file = path.join(copy, 'observations.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const end = lines.findLastIndex((l) => l.includes('"kind":"window_end"'));
    const last = JSON.parse(lines[end]!) as { i: number; t: string };
    const t = (BigInt(last.t) + 1_000_000n).toString();
    lines.splice(end + 1, 0, JSON.stringify({ i: last.i + 1, t, source: 'pi', kind: 'line', text: 'Traceback (most recent call last):' }));
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const r = hil('check', copy);
    expect(r.code, r.out + r.err).to.equal(1);
    expect(r.out).to.match(/^between tests:$/m);
    expect(r.out).to.match(/^FAIL {4}death-pattern on pi at [\d.]+ ms: pi printed a forbidden line .*Traceback/m);
    expect(r.out).to.contain('1 forbidden line(s) or rig fault(s) between tests');
    fs.rmSync(copy, { recursive: true });
  });
});
