/**
 * A run that never finished says so: after a SIGKILL the folder's run.json still says `running`
 * with a process that is gone, and `hil runs`, `hil check` and `hil report` show it INCOMPLETE —
 * never as the PASS of the tests it got through.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const FIXTURE = path.join(ROOT, 'test/fixtures/incomplete/pass-then-hold.spec.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hil = (...args: string[]) => spawnSync(process.execPath, [HIL, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });

describe('a run that never finished (SIGKILL) is INCOMPLETE, never PASS', function () {
  this.timeout(120_000);
  let out: string;

  before(async function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-incomplete-'));
    const child = spawn(process.execPath, [HIL, 'run', '--out', out, FIXTURE], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    for (let t0 = Date.now(); !stdout.includes('FIXTURE: HELD'); await sleep(25)) if (Date.now() - t0 > 60_000) throw new Error(`the fixture never held its button; stdout:\n${stdout}`);
    child.kill('SIGKILL');
    await exited;
  });

  after(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  const runDir = () => path.join(out, fs.readdirSync(out)[0]!);

  it('run.json says it was running, by a process that is gone', function () {
    const meta = JSON.parse(fs.readFileSync(path.join(runDir(), 'run.json'), 'utf8')) as { status: string; pid: number };
    expect(meta.status).to.equal('running');
    expect(() => process.kill(meta.pid, 0)).to.throw();
  });

  it('hil runs lists it INCOMPLETE', function () {
    const r = hil('runs', '--out', out);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(new RegExp(`^${path.basename(runDir())} .*INCOMPLETE {2}1 PASS$`, 'm'));
  });

  it('hil check exits 1 and says the run is INCOMPLETE', function () {
    const r = hil('check', runDir());
    expect(r.status, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.contain('INCOMPLETE: the run never finished');
    expect(r.stdout).to.match(/the run is INCOMPLETE$/m);
  });

  it('hil report flags it at the top of report.html and on the console', function () {
    const r = hil('report', runDir());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('INCOMPLETE: the run never finished');
    expect(fs.readFileSync(path.join(runDir(), 'report.html'), 'utf8')).to.contain('>INCOMPLETE</span> INCOMPLETE: the run never finished');
  });
});
