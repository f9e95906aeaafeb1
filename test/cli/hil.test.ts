/** The `hil` command as a user meets it: help, usage errors, a bad rig file, exit codes. */
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HIL = path.resolve('bin/hil.js');

function hil(...args: string[]) {
  const r = spawnSync(process.execPath, [HIL, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('hil command line', function () {
  this.timeout(120_000);

  it('--help lists the commands', function () {
    const r = hil('--help');
    expect(r.code).to.equal(0);
    for (const c of ['run', 'sim', 'doctor', 'list']) expect(r.out).to.match(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it('run --help shows examples and the exit codes', function () {
    const r = hil('run', '--help');
    expect(r.code).to.equal(0);
    expect(r.out).to.include('Examples:');
    expect(r.out).to.include('Exit code: 0 all passed, 1 a test failed, 2 usage or rig configuration error, or the bench in use (a port held by another process).');
  });

  it('exits 2 on a usage error', function () {
    const r = hil('run', '--seed', 'abc');
    expect(r.code).to.equal(2);
    expect(r.err).to.include('expected a whole number, got "abc"');
    expect(hil('frobnicate').code).to.equal(2);
  });

  it('refuses values that would run something other than asked, before anything starts: exit 2', function () {
    for (const [args, says] of [
      [['run', '--runs', '-3'], 'expected a whole number ≥ 1, got "-3"'],
      [['run', '--runs', '0'], 'expected a whole number ≥ 1, got "0"'],
      [['run', '--budget', '0s'], 'expected a duration above zero, got "0s"'],
      [['run', '--budget', 'ten minutes'], 'expected a duration like 90s, 5m or 1500ms'],
      [['run', '--grep', 'PUMP_(ON'], 'not a valid regular expression'],
      [['doctor', '--listen', '-1'], 'expected a whole number ≥ 1'],
    ] as const) {
      const r = hil(...args);
      expect(r.code, `${args.join(' ')}: ${r.out}${r.err}`).to.equal(2);
      expect(r.err, args.join(' ')).to.include(says);
      expect(r.err, 'no stack trace').to.not.match(/^\s+at /m);
    }
  });

  it('exits 2 with the problems listed for a bad rig file, before touching anything', function () {
    // Inside the project (reports/ is ignored by git), where rig files load as ES modules.
    fs.mkdirSync('reports', { recursive: true });
    const dir = fs.mkdtempSync(path.resolve('reports/tmp-rig-'));
    const f = path.join(dir, 'bad-bench.ts');
    fs.writeFileSync(f, `export default { name: 'bad', boards: {}, devices: {}, buttons: { X: { board: 'nope', pin: 99, activeLow: 'yes' } }, power: {}, limits: {} };\n`);
    const r = hil('run', '--rig', f, '--out', dir);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).to.equal(2);
    expect(r.err).to.include('bad-bench.ts: the rig definition has');
    expect(r.err).to.include('buttons.X.board: expected one of the boards (), found "nope"');
    expect(r.err).to.include('buttons.X.activeLow: expected true or false');
  });

  it('the run summary counts each console\'s lines with invalid UTF-8 and NUL bytes', function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-garbage-'));
    try {
      const r = hil('run', '--grep', 'telemetry arrives', '--out', out, '--dut-cmd', 'node test/fixtures/dut-garbage.mjs');
      expect(r.out).to.match(/^consoles:$/m);
      expect(r.out).to.match(/^ {2}pi: \d+ lines, 1 with invalid UTF-8, 1 with NUL bytes$/m);
      const meta = JSON.parse(fs.readFileSync(path.join(out, fs.readdirSync(out)[0]!, 'run.json'), 'utf8')) as { consoles: Array<{ device: string; invalidUtf8: number; nul: number }> };
      expect(meta.consoles.find((c) => c.device === 'pi')).to.include({ invalidUtf8: 1, nul: 1 });
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a device that prints a death line fails the run, naming the line and the raw log', function () {
    // The simulated Pi runs a firmware that sends heartbeats, then dies with a Python traceback
    // a second in, while the selected test is watching the consoles (not waiting on anything).
    const r = hil('run', '--grep', 'telemetry arrives', '--dut-cmd', 'CRASH_AFTER_MS=1000 node test/fixtures/dut-crashes.mjs');
    expect(r.code).to.equal(1);
    expect(r.out).to.match(/pi printed a forbidden line \(\/Traceback.*\) at #\d+: Traceback \(most recent call last\):; full log: .*serial\/pi\.log/);
  });

  it('a death line after a test\'s body returned, before the test ended, still fails the run', function () {
    // The body has returned; the firmware dies while the scenario's afterEach runs. Aborting the
    // body then lost the line (a Traceback read as HUNG by the next test, seen under load).
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-late-death-'));
    try {
      // Both the spec (in hil) and the firmware (started by the sim hil starts) read it.
      process.env.CRASH_WHEN_FILE = path.join(out, 'crash-now');
      const r = hil('run', 'test/fixtures/specs/death-after-body.spec.ts', '--out', out, '--dut-cmd', 'node test/fixtures/dut-crashes.mjs');
      expect(r.code, r.out + r.err).to.equal(1);
      expect(r.out, r.out).to.match(/^PASS .* the body returns while the firmware still beats$/m);
      expect(r.out).to.match(/^forbidden line between tests: pi printed a forbidden line \(\/Traceback/m);
      // Not only on the console: a run-level row in summary.csv, violations.csv and junit.xml.
      const run = path.join(out, fs.readdirSync(out).find((f) => /^\d{8}-/.test(f))!);
      const rows = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'summary.csv'), 'utf8'), { columns: true });
      const row = rows.find((x) => x.scenario === 'run' && x.test === 'forbidden line between tests');
      expect(row?.outcome, JSON.stringify(rows)).to.equal('FAIL');
      expect(row?.violations).to.match(/pi printed a forbidden line \(\/Traceback/);
      const v = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'violations.csv'), 'utf8'), { columns: true });
      expect(v.find((x) => x.test === 'forbidden line between tests')).to.include({ invariant: 'death-pattern', device: 'pi' });
      expect(fs.readFileSync(path.join(run, 'junit.xml'), 'utf8')).to.match(/<testcase classname="run" name="forbidden line between tests"[^>]*>\s*<failure/);
    } finally {
      delete process.env.CRASH_WHEN_FILE;
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a model-based run notes what its resets and runs cost: in the summary table, summary.csv and the report', function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-notes-'));
    try {
      const r = hil('run', 'scenarios/50-model.spec.ts', '--runs', '2', '--seed', '5', '--out', out);
      expect(r.code, r.out + r.err).to.equal(0);
      expect(r.out).to.match(/^ +note: resets before each run: 2 adopt \(\d+ ms each\)$/m);
      expect(r.out).to.match(/^ +note: panel matches its model: 2 of 2 run\(s\) in [\d.]+ s, seed \d+$/m);
      const run = path.join(out, fs.readdirSync(out)[0]!);
      // The model-based test, and the run-level pooled latency row.
      const rows = parse<Record<string, string>>(fs.readFileSync(path.join(run, 'summary.csv'), 'utf8'), { columns: true }).filter((x) => x.scenario !== 'run');
      expect(rows).to.have.length(1);
      expect(rows[0]!.notes).to.match(/^panel matches its model: 2 of 2 run\(s\) .*; resets before each run: 2 adopt/);
      expect(fs.readFileSync(path.join(run, 'report.html'), 'utf8')).to.match(/<ul class="notes"><li>panel matches its model: 2 of 2/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a scenario that does not load: exit 2 naming the file, line and error; the bench is shut down', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-badspec-'));
    try {
      const broken = path.join(dir, 'broken.spec.ts');
      fs.writeFileSync(broken, "describe('x', function () {\n  it('y', function () {\n");
      const throws = path.join(dir, 'throws.spec.ts');
      fs.writeFileSync(throws, "throw new Error('spec exploded at load');\n");
      const a = hil('run', broken, '--out', dir);
      expect(a.code, a.out + a.err).to.equal(2);
      expect(a.err).to.match(new RegExp(`^hil: cannot load scenario ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: SyntaxError: `, 'm'));
      expect(a.err, 'no stack trace').to.not.match(/^\s+at /m);
      const b = hil('run', throws, '--out', dir);
      expect(b.code).to.equal(2);
      expect(b.err).to.include(`cannot load scenario ${throws}: Error: spec exploded at load`);
      // The simulated bench it had started is gone.
      const left = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
          } catch {
            return '';
          }
        })
        .filter((cmd) => cmd.includes('harness/sim/main.ts') && cmd.includes(dir));
      expect(left, 'no sim process left behind').to.deep.equal([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('property sizes: the rig\'s properties setting, and --runs over it', function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-propsize-'));
    try {
      const rig = hil('run', 'scenarios/60-esp-http.spec.ts', '--grep', 'property', '--rig', 'test/fixtures/rigs/sim-nightly-sized.ts', '--out', out);
      expect(rig.code, rig.out + rig.err).to.equal(0);
      expect(rig.out).to.match(/note: HTTP bursts keep the ring invariants: 3 of 3 run\(s\)/);
      const flag = hil('run', 'scenarios/60-esp-http.spec.ts', '--grep', 'property', '--rig', 'test/fixtures/rigs/sim-nightly-sized.ts', '--runs', '2', '--out', out);
      expect(flag.code, flag.out + flag.err).to.equal(0);
      expect(flag.out).to.match(/note: HTTP bursts keep the ring invariants: 2 of 2 run\(s\)/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a device power-cycled while it drains its queue: the lines already on the wire still count, no false violation', function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-cut-'));
    try {
      const r = hil('run', 'test/fixtures/specs/power-cut-mid-drain.spec.ts', '--out', out);
      expect(r.code, r.out + r.err).to.equal(0);
      // Three tests and the run-level pooled latency row.
      expect(r.out).to.match(/^4 PASS$/m);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('list shows the scenarios and the rigs', function () {
    const r = hil('list');
    expect(r.code).to.equal(0);
    expect(r.out).to.include('00-smoke.spec.ts');
    expect(r.out).to.match(/sim-bench\s+\(default\)/);
  });
  it('doctor on the simulated bench: every part answers, a click reaches the panel, exit 0', function () {
    const r = hil('doctor', '--click', 'PRESSURE_UP', '--listen', '1000');
    expect(r.code, r.out + r.err).to.equal(0);
    expect(r.out).to.match(/^ok\s+board relays-a\s+sim relays-a\s+\/dev\/pts\/\d+\s+\d+ ms\s+StandardFirmata\.ino 2\.5\s+17 relays released$/m);
    expect(r.out).to.match(/^ok\s+device pi\s+sim pi\s+\/dev\/pts\/\d+\s+[1-9]\d*\s+console alive$/m);
    expect(r.out).to.match(/^ok\s+click PRESSURE_UP\s+relays-a pin \d+\s+pi GPIO 12\s+edge seen on pi [\d.]+ ms after the relay command$/m);
    expect(r.out).to.contain('all parts answered');
  });

  it('doctor on a bench that is not plugged in: every missing part named, exit 1', function () {
    const r = hil('doctor', '--rig', 'rigs/lab-bench.example.ts', '--listen', '200');
    expect(r.code, r.out + r.err).to.equal(1);
    expect(r.out).to.contain('4 problems:');
    for (const part of ['board relays-a', 'board relays-b', 'device pi', 'device esp']) expect(r.out).to.match(new RegExp(`^FAIL\\s+${part}\\s`, 'm'));
    expect(r.out).to.match(/device pi: pi: serial port \/dev\/serial\/by-id\/usb-FTDI_\S+ not found\. Is the device plugged in and powered\?/);
  });

  it('doctor --click with a button the rig does not have: exit 2, naming the buttons', function () {
    const r = hil('doctor', '--click', 'NOPE');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/--click: no button "NOPE" on rig sim-bench; buttons: REACTOR_START, /);
  });
});
