/**
 * A device whose program cannot start on this bench (a module it imports is missing, its command
 * is not there) has firmware that never ran: every test is ERROR with the line that says why, at
 * once, not FAIL on the traceback after the boot time. The same line from firmware that was ready
 * once is the firmware dying, and stays FAIL.
 */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cannotStartLine } from '../../harness/core/cannot-start.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');

describe('a device whose program cannot start', function () {
  describe('the lines that say so', function () {
    it('match what Python, the shell and the loader print when the program cannot start', function () {
      for (const line of [
        "ModuleNotFoundError: No module named 'gpiozero'",
        "ImportError: cannot import name 'Button' from 'gpiozero' (/usr/lib/python3/dist-packages/gpiozero/__init__.py)",
        "/usr/bin/python3: can't open file '/work/panel.py': [Errno 2] No such file or directory",
        'python3: can\'t open file "panel.py": [Errno 2] No such file or directory',
        '/bin/sh: 1: panel-fw: not found',
        'sh: 1: ./esp-host: Permission denied',
        'bash: line 1: esp-host: command not found',
        './esp-host: error while loading shared libraries: libtsan.so.2: cannot open shared object file: No such file or directory',
      ])
        expect(cannotStartLine(line), line).to.equal(true);
    });

    it('do not match what running firmware prints, a crash of its own included', function () {
      for (const line of [
        'Traceback (most recent call last):',
        "NameError: name 'rod_positon' is not defined",
        '⚠️  Event queue full, dropping SAFETY_ROD_UP',
        'HIL 41 18233411 edge pin=17 level=0',
        'E (1234) task_wdt: Task watchdog got triggered. The following tasks did not reset the watchdog in time:',
        'module not found in the cache, loading defaults',
      ])
        expect(cannotStartLine(line), line).to.equal(false);
    });
  });

  describe('hil run on the simulated bench', function () {
    this.timeout(120_000);
    let out: string;

    beforeEach(function () {
      out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-cannot-start-'));
    });

    afterEach(function () {
      fs.rmSync(out, { recursive: true, force: true });
    });

    async function run(dutCmd: string): Promise<{ code: number | null; text: string; verdicts: Record<string, string>; reasons: string[] }> {
      const args = ['run', '--out', out, '--rig', 'sim-external-pi', '--dut-cmd', dutCmd, 'scenarios/00-smoke.spec.ts'];
      const child = spawn(process.execPath, [HIL, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (text += s));
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      const dir = path.join(out, fs.readdirSync(out)[0]!);
      const rows = parse<Record<string, string>>(fs.readFileSync(path.join(dir, 'summary.csv'), 'utf8'), { columns: true }).filter((r) => r.scenario !== 'run');
      return { code, text, verdicts: Object.fromEntries(rows.map((r) => [r.test!, r.outcome!])), reasons: rows.map((r) => r.reason ?? r.reasons ?? '') };
    }

    it('a missing Python module: every test ERROR with the line that says so, within seconds', async function () {
      const t0 = Date.now();
      const r = await run(`python3 -c 'import hil_no_such_module'`);
      expect(r.code, r.text).to.equal(1);
      expect(Object.keys(r.verdicts), r.text).to.have.length.greaterThan(2);
      expect(new Set(Object.values(r.verdicts)), r.text).to.deep.equal(new Set(['ERROR']));
      expect(r.text).to.match(/pi cannot start on this bench: pi's console says "ModuleNotFoundError: No module named 'hil_no_such_module'" \(#\d+\) before it was ever ready/);
      // Not after the 4 s boot time + 10 s the ready wait allows, nor a death-pattern FAIL at the end.
      expect(Date.now() - t0, r.text).to.be.lessThan(60_000);
      expect(r.text).not.to.match(/printed a forbidden line \(/);
    });

    it('a command that is not there: ERROR, with the shell\'s words', async function () {
      const r = await run('hil-no-such-firmware --panel');
      expect(r.code, r.text).to.equal(1);
      expect(new Set(Object.values(r.verdicts)), r.text).to.deep.equal(new Set(['ERROR']));
      expect(r.text).to.match(/pi cannot start on this bench: pi's console says ".*hil-no-such-firmware: not found"/);
    });

    it('firmware that was ready and then dies on an import is the firmware dying: FAIL, not ERROR', async function () {
      // Ready and beating like the panel, then a lazy import that fails, 1.5 s in.
      const py = [
        'import time, sys',
        "print('HIL 1 0 boot fw=panel', flush=True)",
        "print('🚀 Control panel ready', flush=True)",
        't0 = time.monotonic()',
        'n = 1',
        'while time.monotonic() - t0 < 1.5:',
        '    n += 1',
        "    print(f'HIL {n} {int((time.monotonic() - t0) * 1e6)} hb thread=processor', flush=True)",
        '    time.sleep(0.1)',
        'import hil_no_such_module',
      ].join('\n');
      const script = path.join(out, 'fw.py');
      fs.writeFileSync(script, py);
      const r = await run(`python3 -u ${script}`);
      expect(r.code, r.text).to.equal(1);
      expect(r.text).not.to.match(/cannot start on this bench/);
      expect(Object.values(r.verdicts), r.text).to.include('FAIL');
      expect(r.text).to.match(/pi printed a forbidden line \(\/Traceback/);
    });
  });
});
