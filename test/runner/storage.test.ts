/**
 * Storage failures: an --out that cannot be written is a usage error before anything starts; a
 * disk that fills mid-run stops the run cleanly (relays released, every file still parses, the
 * running test ERROR "disk full") and the sim survives it.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readObservations } from '../../harness/report/observations-jsonl.ts';
import { fullTestTitle } from '../../harness/report/rows.ts';
import { readReport } from '../../harness/report/read-report.ts';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');

/** A small tmpfs of our own (needs root and mount); undefined where it cannot be had. */
function mountTmpfs(dir: string, opts: string): boolean {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0;
}

describe('storage failures (hil run on the simulated bench)', function () {
  this.timeout(120_000);
  let tmp: string;
  let mounted = false;

  beforeEach(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-storage-'));
    mounted = false;
  });

  afterEach(function () {
    if (mounted) spawnSync('umount', [tmp]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('an --out that cannot be written: exit 2, one line, no run folder, nothing started', function () {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, '');
    const r = spawnSync(process.execPath, [HIL, 'run', '--out', path.join(file, 'reports')], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^hil: --out .*a-file\/reports: cannot write reports there \(ENOTDIR/);
    expect(r.stdout).to.equal('');
  });

  it('an --out whose parent refuses new folders (/proc): exit 2 at once, not a hang', function () {
    const r = spawnSync(process.execPath, [HIL, 'run', '--out', '/proc/hil-reports'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, 'still running after 30 s').to.equal(null);
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^hil: --out \/proc\/hil-reports: cannot write reports there \(ENOENT/);
  });

  it('a read-only --out (a read-only mount): exit 2, one line', function () {
    if (!mountTmpfs(tmp, 'ro,size=1m')) this.skip();
    mounted = true;
    const r = spawnSync(process.execPath, [HIL, 'run', '--out', tmp], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^hil: --out .*: cannot write reports there \(EROFS: read-only file system/);
    expect(fs.readdirSync(tmp)).to.deep.equal([]);
  });

  it('the disk fills mid-run: stopped cleanly, running test ERROR "disk full", every file parses, the sim survives', async function () {
    if (!mountTmpfs(tmp, 'size=24m')) this.skip();
    mounted = true;
    const child = spawn(process.execPath, [HIL, 'run', '--out', tmp, path.join(ROOT, 'test/fixtures/storage/disk-fills.spec.ts')], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const ctx = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    expect(stdout, ctx).to.contain('FIXTURE: DISK FULL');
    expect(code, ctx).to.equal(1);
    expect(stdout + stderr, ctx).to.not.match(/Uncaught|ERR_MOCHA_MULTIPLE_DONE|ENOSPC: no space left on device\n\s+at /);
    expect(stderr, ctx).to.match(/disk full: the run's records cannot be written \(ENOSPC/);
    const run = path.join(tmp, fs.readdirSync(tmp).find((f) => f !== 'ballast')!);
    // Every file parses: whole rows, whole lines, no temporary files or the space reserve left.
    const report = readReport(run);
    // Suite and title are separate columns; a run the disk stopped has no run-level latency row to expect.
    expect(report.summary.filter((r) => r.scenario !== 'run').map((r) => [fullTestTitle(r), r.outcome]), ctx).to.deep.equal([
      ['disk fills passes while there is room', 'PASS'],
      ['disk fills the disk fills during this test', 'ERROR'],
    ]);
    expect(report.summary.filter((r) => r.scenario !== 'run')[1]!.violations).to.contain('disk full');
    const obs = await readObservations(path.join(run, 'observations.jsonl'));
    expect(fs.readFileSync(path.join(run, 'observations.jsonl'), 'utf8').endsWith('\n'), 'observations.jsonl ends in a whole line').to.equal(true);
    expect(obs.length).to.be.greaterThan(0);
    expect(fs.readdirSync(run).filter((f) => f.includes('.tmp-') || f.startsWith('.hil-')), 'stray files').to.deep.equal([]);
    expect(fs.readFileSync(path.join(run, 'junit.xml'), 'utf8')).to.match(/<error type="ERROR" message="rig fault: disk full/);
    expect((JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')) as { status: string }).status).to.equal('error');
    // The sim survived the full disk: it shut down in order and its ground truth is whole, and
    // every relay was released before its boards lost power.
    const truth = readGroundTruth(path.join(run, 'ground-truth.jsonl'));
    expect(truth.some((r) => r.src === 'bench' && r.kind === 'stop'), 'the sim stopped in order').to.equal(true);
    const off = truth.find((r) => r.src === 'relays-a' && r.kind === 'power' && r.on === false);
    const state = new Map<string, boolean>();
    for (const r of truth) if (r.kind === 'coil' && (off === undefined || r.t < off.t)) state.set(r.src, r.on as boolean);
    expect([...state].filter(([, on]) => on).map(([k]) => k), 'coils on when the bench powered down').to.deep.equal([]);
  });
});
