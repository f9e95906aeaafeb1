/**
 * Signals reach `hil` through its launchers: `npx hil run` and `npm start` (npm runs the command
 * under `sh -c`; npm forwards SIGINT/SIGTERM to that shell, which dies without passing them on),
 * and the nightly workflow's command. The signal goes to the OUTERMOST process only; the harness
 * must stop, release the relays (judged from the sim's ground truth) and exit.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readObservations } from '../../harness/report/observations-jsonl.ts';
import { readGroundTruth } from '../../harness/sim/ground-truth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOLD = path.join(ROOT, 'test/fixtures/safe-state/hold.spec.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The run step of .github/workflows/nightly-bench.yml, with its variables filled in for the sim. */
function workflowRunCommand(): string {
  const yml = fs.readFileSync(path.join(ROOT, '.github/workflows/nightly-bench.yml'), 'utf8');
  const m = /- name: hil run\n\s+run: (.+)\n/.exec(yml);
  if (!m) throw new Error('no "hil run" step in the nightly workflow');
  return m[1]!;
}

const launchers: Array<{ name: string; argv: (out: string) => string[] }> = [
  { name: 'npx hil run', argv: (out) => ['npx', 'hil', 'run', '--out', out, HOLD] },
  { name: 'npm start', argv: (out) => ['npm', 'start', '--', '--out', out, HOLD] },
  {
    name: "the nightly workflow's run step (bash -e, as GitHub Actions runs it)",
    argv: (out) => ['bash', '-e', '-c', workflowRunCommand().replace(/--out \S+/, `--out ${out}`) + ` ${HOLD}`],
  },
];

describe('signals reach hil through its launchers', function () {
  this.timeout(120_000);
  let out: string;

  beforeEach(function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-launch-'));
  });

  afterEach(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  // npm ignores a SIGINT sent to it alone while its command runs (it leaves Ctrl-C to the
  // terminal's group signal), so for npm and npx SIGINT is sent as a terminal sends it, to the
  // whole group; the README says so. The workflow step calls the harness directly: both alone.
  const cases = launchers.flatMap((l, k) => [
    { l, sig: 'SIGTERM' as const, group: false },
    { l, sig: 'SIGINT' as const, group: k < 2 },
  ]);
  for (const { l, sig, group } of cases) {
    {
      it(`${sig} to ${l.name}${group ? "'s whole process group (a terminal's Ctrl-C)" : ' alone'}: the harness stops, releases and exits`, async function () {
        const [cmd, ...args] = l.argv(out);
        const env = { ...process.env, FORCE_COLOR: '0', RIG: 'rigs/sim-bench.ts', RUNS: '1', BUDGET: '10s' };
        const child = spawn(cmd!, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
        try {
          for (let t0 = Date.now(); !stdout.includes('FIXTURE: HELD'); await sleep(25)) if (Date.now() - t0 > 60_000) throw new Error(`never held; ${stdout}${stderr}`);
          if (group) process.kill(-child.pid!, sig);
          else child.kill(sig);
          const run = path.join(out, fs.readdirSync(out)[0]!);
          // The harness itself (whatever became of its launcher) stops: run.json records the end.
          for (let t0 = Date.now(); ; await sleep(50)) {
            const meta = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')) as { status: string };
            if (meta.status !== 'running') break;
            if (Date.now() - t0 > 20_000) throw new Error(`the harness did not stop within 20 s of ${sig} to ${l.name}; stderr:\n${stderr}`);
          }
          for (let t0 = Date.now(); !readGroundTruth(path.join(run, 'ground-truth.jsonl')).some((r) => r.src === 'bench' && r.kind === 'stop'); await sleep(50)) {
            if (Date.now() - t0 > 15_000) throw new Error('the sim did not stop');
          }
          const truth = readGroundTruth(path.join(run, 'ground-truth.jsonl'));
          const obs = await readObservations(path.join(run, 'observations.jsonl'));
          const stop = obs.find((o) => o.source === 'harness' && o.kind === 'stop');
          expect(stop, stderr).to.not.equal(undefined);
          expect(truth.some((r) => r.kind === 'coil' && r.src === 'relays-a:PRESSURE_UP' && r.on === true), 'PRESSURE_UP was held').to.equal(true);
          const off = truth.find((r) => r.src === 'relays-a' && r.kind === 'power' && r.on === false);
          const release = truth.find((r) => r.kind === 'coil' && r.src === 'relays-a:PRESSURE_UP' && r.on === false);
          expect(release, 'PRESSURE_UP released').to.not.equal(undefined);
          expect(release!.t < off!.t, 'released before the bench powered down').to.equal(true);
        } finally {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      });
    }
  }
});
