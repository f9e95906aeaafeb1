/**
 * Takeover reports what it found: relays a killed run left energised are released by the next
 * run or `hil doctor`, which say so, naming each channel and how long it may have been held. A
 * board in StandardFirmata's boot state (a fresh bench) is no warning.
 *
 * The simulated bench is started here and stays up across the harness processes, as a real bench
 * does: a rig file points at its ports by path, so `hil run` and `hil doctor` open it like any
 * bench instead of starting their own.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';
import { startSimBench, type SimBenchHandle } from '../../harness/sim/sim-process.ts';
import rig from '../../rigs/sim-bench.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const HOLD = path.join(ROOT, 'test/fixtures/takeover/hold.spec.ts');
const PASS = path.join(ROOT, 'test/fixtures/takeover/pass.spec.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENV = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
const hil = (...args: string[]) => spawnSync(process.execPath, [HIL, ...args], { cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 120_000 });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Last coil state per relay channel of a board, from the ground truth. */
function coils(file: string, board: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const r of readGroundTruth(file)) if (r.kind === 'coil' && r.src.startsWith(`${board}:`)) out.set(r.src.slice(board.length + 1), r.on as boolean);
  return out;
}
const energised = (file: string) => [...coils(file, 'relays-a')].filter(([, on]) => on).map(([c]) => c).sort();

describe('a simulated bench that stays up across harness processes, as a real bench does', function () {
  this.timeout(240_000);
  let sim: SimBenchHandle;
  let dir: string;
  let truth: string;
  let rigFile: string;
  let readyRigFile: string;
  let out: string;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-takeover-'));
    out = path.join(dir, 'reports');
    truth = path.join(dir, 'truth.jsonl');
    sim = await startSimBench({ groundTruthPath: truth });
    const ports = sim.description.ports;
    // The sim rig's wiring with its ports by path: a bench already up, not one the harness starts.
    const standing = (name: string, piReady: boolean) => {
      const file = path.join(dir, `${name}.mts`);
      fs.writeFileSync(
        file,
        `import base from ${JSON.stringify(path.join(ROOT, 'rigs/sim-bench.ts'))};
const { ready, ...pi } = base.devices.pi;
export default {
  ...base,
  name: ${JSON.stringify(name)},
  simulated: false,
  boards: { 'relays-a': { port: { path: ${JSON.stringify(ports['relays-a'])} } }, 'relays-b': { port: { path: ${JSON.stringify(ports['relays-b'])} } } },
  devices: {
    pi: { ...pi, ${piReady ? 'ready, ' : ''}port: { path: ${JSON.stringify(ports.pi)} } },
    esp: { ...base.devices.esp, port: { path: ${JSON.stringify(ports.esp)} }, http: { url: ${JSON.stringify(sim.description.http.esp)} } },
  },
};
`,
      );
      return file;
    };
    // The takeover runs take the Pi as ready at its first heartbeat (its ready line was printed
    // before any run): they are about the relays, not readiness.
    rigFile = standing('standing-bench', false);
    readyRigFile = standing('standing-bench-ready', true);
  });

  after(async function () {
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `hil run` holding two buttons, SIGKILLed once they are held: returns its run folder and stderr. */
  async function killedWhileHolding(): Promise<{ runDir: string; stderr: string }> {
    const before = new Set(fs.existsSync(out) ? fs.readdirSync(out) : []);
    const child = spawn(process.execPath, [HIL, 'run', '--rig', rigFile, '--out', out, HOLD], { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    for (let t0 = Date.now(); !stdout.includes('FIXTURE: HELD'); await sleep(25)) {
      if (Date.now() - t0 > 60_000 || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`the fixture never held its buttons; stdout:\n${stdout}\nstderr:\n${stderr}`);
      }
    }
    child.kill('SIGKILL');
    await exited;
    const id = fs.readdirSync(out).find((d) => !before.has(d))!;
    // The coils stay energised: nothing released them (the relays take a few ms; the truth is flushed every 100 ms).
    // Wait for the truth to show the run's own state, not only two coils: on a fresh bench every
    // coil starts energised (StandardFirmata's boot state), and a truth flushed before the run's
    // release at its start still shows them all (a CI run read 11 coils so).
    const held = ['EMERGENCY', 'PRESSURE_UP'];
    for (let t0 = Date.now(); energised(truth).join() !== held.join() && Date.now() - t0 < 3000; ) await sleep(50);
    expect(energised(truth), 'left energised by the killed run').to.deep.equal(held);
    return { runDir: path.join(out, id), stderr };
  }

  const started = (runDir: string) => (JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { started: string; runId: string });
  const warningFor = (runDir: string) => {
    const m = started(runDir);
    const [a, b] = [rig.buttons.EMERGENCY!.pin, rig.buttons.PRESSURE_UP!.pin];
    return new RegExp(
      `relays-a: found 2 relays left energised by an earlier session, now released: EMERGENCY \\(pin ${a}\\), PRESSURE_UP \\(pin ${b}\\); ` +
        `held since ${escape(m.started)} at the earliest \\(up to [12] min\\), when run ${escape(m.runId)} started; it never finished`,
    );
  };

  it('a fresh bench (boot state) is no warning; a run killed while holding, then hil doctor: the doctor names each channel and since when, and releases them', async function () {
    const a = await killedWhileHolding();
    expect(a.stderr, 'the first run found the boards as they booted').not.to.match(/left energised/);
    const r = hil('doctor', '--rig', rigFile, '--out', out, '--listen', '1000');
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(new RegExp(`^  warning: ${warningFor(a.runDir).source}$`, 'm'));
    expect(r.stdout).to.match(/^ok\s+board relays-a\s.*17 relays released; 2 had been left energised \(see the warning\)$/m);
    expect(r.stdout).not.to.match(/relays-b: found/);
    await sleep(300);
    expect(energised(truth), 'released by the doctor').to.deep.equal([]);
    // The doctor closed cleanly: a second look finds nothing left.
    const again = hil('doctor', '--rig', rigFile, '--out', out, '--listen', '1000');
    expect(again.status, again.stdout + again.stderr).to.equal(0);
    expect(again.stdout).not.to.match(/left energised/);
  });

  it('a run killed while holding, then hil run: a console warning, the first test\'s notes and run.json name each channel and since when', async function () {
    const b = await killedWhileHolding();
    const r = hil('run', '--rig', rigFile, '--out', out, PASS);
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    const warning = warningFor(b.runDir);
    expect(r.stderr).to.match(new RegExp(`^warning: ${warning.source}$`, 'm'));
    // On the first test's row: the console summary, summary.csv, run.json.
    expect(r.stdout).to.match(new RegExp(`note: warning: ${warning.source}`));
    const runDir = path.join(out, fs.readdirSync(out).sort().at(-1)!);
    expect(fs.readFileSync(path.join(runDir, 'summary.csv'), 'utf8')).to.match(warning);
    const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { warnings?: string[]; status: string };
    expect(meta.status).to.equal('complete');
    expect(meta.warnings).to.have.length(1);
    expect(meta.warnings![0]).to.match(warning);
    const obs = fs.readFileSync(path.join(runDir, 'observations.jsonl'), 'utf8');
    expect(obs).to.match(/"kind":"takeover_found".*"state":"set".*"count":2/);
    await sleep(300);
    expect(energised(truth)).to.deep.equal([]);
  });

  it('devices already up and beating are ready without waiting boot time + 10 s for a line they printed at boot', function () {
    // The doctor reads what the consoles held while no host read them: the run below sees the
    // devices only as they are now, up and beating.
    const d = hil('doctor', '--rig', readyRigFile, '--out', out, '--listen', '500');
    expect(d.status, d.stdout + d.stderr).to.equal(0);
    const t0 = Date.now();
    const r = hil('run', '--rig', readyRigFile, '--out', out, PASS);
    const ms = Date.now() - t0;
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stderr).not.to.match(/did not say it was ready/);
    const runDir = path.join(out, fs.readdirSync(out).sort().at(-1)!);
    const obs = fs
      .readFileSync(path.join(runDir, 'observations.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { source: string; kind: string; text?: string });
    // Honest only if the Pi was not seen booting nor saying it was ready in this run.
    expect(obs.filter((o) => o.source === 'pi' && (o.kind === 'boot' || /Control panel ready/.test(o.text ?? ''))), 'the Pi was seen booting').to.deep.equal([]);
    // Boot time (4 s) of heartbeats instead of boot time + 10 s; the rest is start-up and the test.
    expect(ms, `the run took ${ms} ms`).to.be.below(4000 + 10_000);
  });

  it('hil doctor on a fresh simulated bench (boot state): no warning', function () {
    const r = hil('doctor', '--listen', '1000');
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).not.to.match(/left energised|warning/);
  });
});
