/**
 * A bench has one user at a time. The lock module on its own (take, refuse a live holder naming
 * it, take over a dead one, release on every way out of a process), then `hil run` and
 * `hil doctor` on a real rig whose lock a live process holds: exit 2 naming the holder, before
 * any port is tried (the rig's ports do not even exist).
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchInUse } from '../../harness/core/errors.ts';
import { benchLockFile, readBenchLock, takeBenchLock, type LockHolder } from '../../harness/runner/bench-lock.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const LOCK = path.join(ROOT, 'harness/runner/bench-lock.ts');
const ENV = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };

/** A pid no process has any more: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function writeLock(file: string, h: LockHolder): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(h) + '\n');
}

describe('bench lock', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-lock-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('takes a free bench: one file per rig, holding host, pid, user, command and start time; release removes it', function () {
    const lock = takeBenchLock('lab one', { dir, command: 'hil run --rig lab' });
    expect(lock.file).to.equal(path.join(dir, 'lab_one.lock'));
    const h = readBenchLock('lab one', dir) as LockHolder;
    expect(h).to.include({ host: os.hostname(), pid: process.pid, command: 'hil run --rig lab' });
    expect(h.user).to.be.a('string').and.not.equal('');
    expect(Date.now() - Date.parse(h.started)).to.be.within(0, 10_000);
    expect(lock.tookOver).to.equal(undefined);
    lock.release();
    expect(fs.existsSync(lock.file)).to.equal(false);
    lock.release(); // twice is harmless
  });

  it('refuses a bench a live process holds, naming who and since when, and leaves its lock alone', function () {
    const first = takeBenchLock('lab', { dir, command: 'hil run --rig lab (nightly)' });
    try {
      let err: unknown;
      try {
        takeBenchLock('lab', { dir });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(BenchInUse);
      const msg = (err as Error).message;
      expect(msg).to.match(new RegExp(`^bench lab is in use: held by \\S+ \\(pid ${process.pid}, hil run --rig lab \\(nightly\\)\\) on ${os.hostname()} since ${first.holder.started.replace(/\./g, '\\.')}; nothing was opened`));
      expect(msg).to.include(first.file);
      expect(readBenchLock('lab', dir)).to.deep.equal(first.holder);
    } finally {
      first.release();
    }
  });

  it('a lock on another host is refused too: whether it still runs cannot be checked from here', function () {
    writeLock(benchLockFile('lab', dir), { host: 'other-pc', pid: 1, user: 'bob', command: 'hil run', started: '2026-12-01T20:00:00.000Z' });
    expect(() => takeBenchLock('lab', { dir })).to.throw(BenchInUse, /held by bob \(pid 1, hil run\) on other-pc since 2026-12-01T20:00:00\.000Z \(another host/);
  });

  it('takes over a lock whose process is gone, and says from whom', function () {
    const pid = deadPid();
    const stale: LockHolder = { host: os.hostname(), pid, user: 'ci', command: 'hil run --rig lab', started: '2026-12-01T23:00:00.000Z' };
    writeLock(benchLockFile('lab', dir), stale);
    const lock = takeBenchLock('lab', { dir });
    expect(lock.tookOver).to.deep.equal(stale);
    expect((readBenchLock('lab', dir) as LockHolder).pid).to.equal(process.pid);
    expect(fs.readdirSync(dir)).to.deep.equal(['lab.lock']);
    lock.release();
  });

  it('release leaves a lock that is no longer its own', function () {
    const lock = takeBenchLock('lab', { dir });
    const other: LockHolder = { host: os.hostname(), pid: 1, user: 'x', command: 'y', started: '2026-12-02T00:00:00.000Z' };
    writeLock(lock.file, other);
    lock.release();
    expect(readBenchLock('lab', dir)).to.deep.equal(other);
  });

  for (const how of ['exit', 'uncaught', 'SIGTERM', 'SIGINT'] as const) {
    it(`a process that ends by ${how} leaves no lock behind`, async function () {
      const script = `import { takeBenchLock } from ${JSON.stringify(LOCK)};
takeBenchLock('lab', { dir: ${JSON.stringify(dir)} });
console.log('HELD');
${how === 'exit' ? 'process.exit(3);' : how === 'uncaught' ? "setTimeout(() => { throw new Error('boom'); }, 10);" : 'setInterval(() => {}, 1000);'}`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (c) => reject(new Error(`child ended early (${c})`)));
      });
      const ended = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
      if (how === 'SIGTERM' || how === 'SIGINT') child.kill(how);
      const [code, signal] = await ended;
      // It still ends the way it would have without a lock.
      if (how === 'exit') expect(code).to.equal(3);
      else if (how === 'uncaught') expect(code).to.equal(1);
      else expect(signal).to.equal(how);
      expect(fs.existsSync(benchLockFile('lab', dir))).to.equal(false);
    });
  }
});

describe('hil run and hil doctor on a bench in use', function () {
  this.timeout(120_000);
  let dir: string;
  let rigFile: string;
  let lockFile: string;
  const rigName = `locked-bench-${process.pid}`;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-locked-'));
    rigFile = path.join(dir, 'locked.mts');
    // A real rig whose ports do not exist: any attempt to open one would say so instead.
    fs.writeFileSync(
      rigFile,
      `import base from ${JSON.stringify(path.join(ROOT, 'rigs/sim-bench.ts'))};
export default {
  ...base,
  name: ${JSON.stringify(rigName)},
  simulated: false,
  boards: { 'relays-a': { port: { path: '/dev/hil-no-such-port-a' } }, 'relays-b': { port: { path: '/dev/hil-no-such-port-b' } } },
  devices: {
    pi: { ...base.devices.pi, port: { path: '/dev/hil-no-such-port-pi' } },
    esp: { ...base.devices.esp, port: { path: '/dev/hil-no-such-port-esp' }, http: { url: 'http://127.0.0.1:9' } },
  },
};
`,
    );
    lockFile = benchLockFile(rigName);
    // Held by this test's own process: alive for as long as the test runs.
    writeLock(lockFile, { host: os.hostname(), pid: process.pid, user: 'alice', command: 'hil run --rig lab (in another terminal)', started: '2026-12-02T01:00:00.000Z' });
  });
  after(function () {
    fs.rmSync(lockFile, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const holderLine = new RegExp(`^hil: bench ${rigName} is in use: held by alice \\(pid ${process.pid}, hil run --rig lab \\(in another terminal\\)\\) on ${os.hostname()} since 2026-12-02T01:00:00\\.000Z; nothing was opened`);

  it('hil run: exit 2, one line naming the holder and since when, no run folder, no port tried', function () {
    const out = path.join(dir, 'reports');
    const r = spawnSync(process.execPath, [HIL, 'run', '--rig', rigFile, '--out', out, path.join(ROOT, 'test/fixtures/takeover/pass.spec.ts')], { cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).to.equal(2);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.match(holderLine);
    expect(r.stderr).to.not.match(/no-such-port/);
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).to.deep.equal([]);
    expect((readBenchLock(rigName) as LockHolder).user, 'the holder\'s lock is left alone').to.equal('alice');
  });

  it('hil doctor: exit 2 naming the holder, no port tried', function () {
    const r = spawnSync(process.execPath, [HIL, 'doctor', '--rig', rigFile], { cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr.split('\n').filter((l) => l !== '')[0]).to.match(holderLine);
    expect(r.stdout + r.stderr).to.not.match(/no-such-port/);
    expect((readBenchLock(rigName) as LockHolder).user).to.equal('alice');
  });
});
