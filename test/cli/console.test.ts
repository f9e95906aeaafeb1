/** What `hil run` prints: a banner before the first test, a compact end, and colour only where it belongs. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn as ptySpawn } from 'node-pty';

const HIL = path.resolve('bin/hil.js');
const ONE_TEST = ['run', 'scenarios/00-smoke.spec.ts', '--grep', 'pi: boots'];
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[/;

/** The environment without anything that decides colour, plus `extra`. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !['NO_COLOR', 'FORCE_COLOR', 'MOCHA_COLORS', 'CI'].includes(k)) e[k] = v;
  return { ...e, TERM: 'xterm-256color', ...extra };
}

/** Run hil on a real terminal (a PTY); everything it printed. */
function onTerminal(args: string[], extra: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const p = ptySpawn(process.execPath, [HIL, ...args], { cols: 200, rows: 50, cwd: process.cwd(), env: env(extra) });
    let out = '';
    p.onData((d) => (out += d));
    p.onExit(() => resolve(out));
  });
}

describe('hil run on the console', function () {
  this.timeout(120_000);
  let out: string;
  before(function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-console-'));
  });
  after(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('through a pipe: a banner before the first test (rig, seed, run folder, consoles to follow), a compact end, no escape codes', function () {
    const r = spawnSync(process.execPath, [HIL, ...ONE_TEST, '--out', out], { encoding: 'utf8', timeout: 90_000, env: env() });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout + r.stderr).not.to.match(ESCAPE);
    const lines = r.stdout.split('\n');
    const first = lines.findIndex((l) => l.includes('pi: boots and sends heartbeats'));
    const banner = lines.findIndex((l) => l.startsWith('hil run: rig sim-bench ('));
    expect(banner, r.stdout).to.be.within(0, first - 1);
    expect(lines[banner]).to.match(/seed not set .*, fault none$/);
    const dir = /^run folder: (.+)$/m.exec(r.stdout)![1]!;
    expect(fs.existsSync(path.join(dir, 'run.json'))).to.equal(true);
    expect(r.stdout).to.contain(`follow the consoles live: tail -f ${path.join(dir, 'serial', 'pi.timed.log')} ${path.join(dir, 'serial', 'esp.timed.log')}`);
    // The end: counts, and no second list of the tests that passed.
    expect(r.stdout).to.match(/^\d+ PASS$/m);
    expect(r.stdout.match(/pi: boots and sends heartbeats/g)).to.have.length(1);
  });

  it('on a terminal: colour, unless NO_COLOR is set', async function () {
    const coloured = await onTerminal([...ONE_TEST, '--out', out], {});
    expect(coloured, 'a terminal without NO_COLOR gets colour (else this test proves nothing)').to.match(ESCAPE);
    const plain = await onTerminal([...ONE_TEST, '--out', out], { NO_COLOR: '1' });
    expect(plain).to.contain('pi: boots and sends heartbeats');
    expect(plain).not.to.match(ESCAPE);
  });
});
