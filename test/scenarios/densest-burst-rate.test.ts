/**
 * The densest burst on a rig whose relays make 15 presses/s (rigs/sim-modbus.ts), end to end: a
 * real `hil run` of the scenario. Its plan used to land presses exactly 1 s, or 1 µs less, after
 * the press 15 before them (start times rounded up to the µs one by one), and the presser's plan
 * check refused it: the scenario ERRORed on every 15/s rig. ~20 s.
 */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRig } from '../../harness/rig/load.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const RIG = 'rigs/sim-modbus.ts';

describe('the densest burst on a 15 presses/s rig', function () {
  this.timeout(120_000);

  it(`${RIG}: performed within the limits and judged (PASS), not refused by the plan check`, async function () {
    const { rig } = await loadRig(path.join(ROOT, RIG));
    // What this test is about; if the rig changes its rate, it no longer covers the case.
    expect(rig.limits.maxPressesPerSec, 'the rig this test was written for').to.equal(15);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-densest-'));
    try {
      const child = spawn(process.execPath, [HIL, 'run', '--out', out, '--rig', RIG, 'scenarios/40-bursts.spec.ts', '--grep', 'densest'], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (text += s));
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      const dir = path.join(out, fs.readdirSync(out)[0] ?? '');
      const summary = parse<Record<string, string>>(fs.readFileSync(path.join(dir, 'summary.csv'), 'utf8'), { columns: true });
      const row = summary.find((r) => r.test?.startsWith('the densest burst'));
      expect(row?.outcome, text).to.equal('PASS');
      expect(Number(row?.presses), 'presses performed').to.equal(200);
      expect(code, text).to.equal(0);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
