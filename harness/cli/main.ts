import { spawn } from 'node:child_process';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { BenchInUse, ConfigError, RigFault } from '../core/errors.ts';
import { defaultRigName, listRigs, loadRig } from '../rig/load.ts';
import { doctor, formatDoctorTable } from '../runner/doctor.ts';
import { registerRecordedRunCommands } from './commands/recorded.ts';
import { registerReplay } from './commands/replay.ts';
import { describeConsole, listScenarios, runScenarios, type RunStart } from '../runner/run.ts';
import type { TestVerdict } from '../runner/recorder.ts';
import { SIM_FAULTS, SIM_MAIN } from '../sim/provider.ts';

// `hil runs | head`: a reader that went away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function positiveInt(v: string): number {
  const n = int(v);
  if (n < 1) throw new InvalidArgumentError(`expected a whole number ≥ 1, got ${JSON.stringify(v)}`);
  return n;
}

/** `90s`, `5m`, `1500ms`, `1h`, or a plain number of seconds; more than zero. */
function duration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 90s, 5m or 1500ms, got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  const ms = Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']);
  if (ms < 1) throw new InvalidArgumentError(`expected a duration above zero, got ${JSON.stringify(v)}`);
  return ms;
}

/** A comma-separated list (`a,b`), empty items dropped. */
function list(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/** A --grep pattern: a JavaScript regular expression, checked before anything starts. */
function pattern(v: string): string {
  try {
    new RegExp(v);
  } catch (error) {
    throw new InvalidArgumentError(`not a valid regular expression (${(error as Error).message}); escape ( ) [ ] . * + ? with a backslash to match them literally`);
  }
  return v;
}

const program = new Command()
  .name('hil')
  .description('Hardware-in-the-loop test harness for the Pi control panel and ESP32 bench (simulated bench by default).')
  .showHelpAfterError()
  .exitOverride((err) => {
    // Usage errors exit 2, as documented; help and version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command('run')
  .description('run the scenarios on a rig (starts and stops the simulated bench itself)')
  .argument('[specs...]', 'spec files to run instead of scenarios/*.spec.ts')
  .option('--rig <name|file>', 'rig name in rigs/ or a rig file', defaultRigName())
  .option('--grep <pattern>', 'only tests whose title matches (a regular expression)', pattern)
  .option('--fault <name>', 'simulated bench: switch in a broken firmware variant')
  .option('--instrument <list>', 'simulated bench: healthy panel with real-firmware wire orders, comma-separated: racy-q-put, raw-edges', list)
  .option('--seed <n>', 'simulated bench: seed for relay timing and device clocks', int)
  .option('--out <dir>', 'reports root (each run gets its own folder)', 'reports')
  .option('--dut-cmd <command>', 'simulated bench: run your own panel firmware as the Pi (see docs/sim.md)')
  .option('--dut-edge-times', 'with --dut-cmd: send each GPIO change with its contact time (gpio <bcm> <level> <monotonic ns>), for firmware that debounces on edge time as a Pi\'s kernel timestamps edges')
  .option('--esp-cmd <command>', 'simulated bench: run your own ESP firmware as the ESP; it gets HIL_HTTP_PORT and the Pi\'s UART on stdin (see docs/sim.md)')
  .option('--runs <n>', 'property tests: runs per property (nightly: a few hundred)', positiveInt)
  .option('--budget <duration>', 'property tests: wall-clock budget per property (e.g. 90s, 5m); the best counterexample so far is reported when it runs out', duration)
  .addHelpText(
    'after',
    `
Examples:
  hil run                               all scenarios on the simulated bench
  hil run --runs 300 --budget 10m       nightly-sized property runs
  hil run --grep heartbeat              only matching tests
  hil run --fault lock-in-callback      the same scenarios against a broken panel firmware
  hil run --rig rigs/my-bench.ts        on a real bench
  hil run scenarios/10-buttons.spec.ts  one spec file

Exit code: 0 all passed, 1 a test failed, 2 usage or rig configuration error, or the bench in use (a port held by another process).`,
  )
  .action(async (specs: string[], o: { rig: string; grep?: string; fault?: string; instrument?: string[]; seed?: number; out: string; dutCmd?: string; dutEdgeTimes?: boolean; espCmd?: string; runs?: number; budget?: number }) => {
    if (o.dutEdgeTimes && !o.dutCmd) throw new ConfigError('--dut-edge-times changes what the --dut-cmd program is sent: give --dut-cmd too');
    const r = await runScenarios({
      rig: o.rig,
      specs,
      color: useColor(),
      onStart: (s) => console.log(startBanner(s)),
      ...(o.runs !== undefined ? { runs: o.runs } : {}),
      ...(o.budget !== undefined ? { budgetMs: o.budget } : {}),
      out: o.out,
      ...(o.grep ? { grep: o.grep } : {}),
      ...(o.fault ? { fault: o.fault } : {}),
      ...(o.instrument?.length ? { instrument: o.instrument } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.dutCmd ? { dutCmd: o.dutCmd } : {}),
      ...(o.dutEdgeTimes ? { dutEdgeTimes: true } : {}),
      ...(o.espCmd ? { espCmd: o.espCmd } : {}),
    });
    for (const d of r.deathsOutsideTests) console.log(`forbidden line between tests: ${d}`);
    for (const f of r.faultsOutsideTests) console.log(`rig fault between tests: ${f}`);
    console.log('\n' + formatVerdictTable(r.verdicts));
    if (r.consoles?.length) console.log(`\nconsoles:\n${r.consoles.map((c) => `  ${describeConsole(c)}`).join('\n')}`);
    console.log(`\nreport: ${r.html ?? r.dir}`);
    console.log(`${r.passed} passed, ${r.failed} failed${r.pending ? `, ${r.pending} pending` : ''}`);
    const bad = r.verdicts.some((v) => v.verdict !== 'PASS');
    process.exitCode = r.failed > 0 || bad || r.deathsOutsideTests.length > 0 || r.faultsOutsideTests.length > 0 ? 1 : 0;
  });

program
  .command('doctor')
  .description('check a rig before a run: open every port and relay board, show what answered; presses nothing unless --click')
  .option('--rig <name|file>', 'rig name in rigs/ or a rig file', defaultRigName())
  .option('--click <button>', 'tap this button once and look for its edge on the device')
  .option('--listen <ms>', 'how long to listen to each device console', positiveInt, 2000)
  .option('--out <dir>', "reports root of the rig's runs (says how long relays found energised may have been held)", 'reports')
  .addHelpText(
    'after',
    `
Examples:
  hil doctor                              the simulated bench
  hil doctor --rig rigs/lab-bench.ts      a real bench: ports, Firmata handshakes, console lines
  hil doctor --click PRESSURE_UP          and prove one relay really presses its button

Exit code: 0 everything answered, 1 something is missing or silent (the table says what), 2 usage or rig file error.`,
  )
  .action(async (o: { rig: string; click?: string; listen: number; out: string }) => {
    const { rig, file } = await loadRig(o.rig);
    console.log(`rig ${rig.name} (${file})${rig.simulated ? ': starting the simulated bench' : ''}`);
    // Each part as its check finishes (a dead board's timeout no longer hides the others), then the table.
    const r = await doctor(rig, {
      listenMs: o.listen,
      out: o.out,
      onWarning: (w) => console.log(`  warning: ${w}`),
      ...(o.click !== undefined ? { click: o.click } : {}),
      onRow: (row) => console.log(`  ${row.ok ? 'ok  ' : 'FAIL'} ${row.kind} ${row.name}: ${row.note}`),
    });
    console.log('');
    console.log(formatDoctorTable(r.rows));
    const bad = r.rows.filter((x) => !x.ok);
    if (r.warnings.length > 0) console.log(`\nwarning${r.warnings.length > 1 ? 's' : ''}:\n${r.warnings.map((w) => `  ${w}`).join('\n')}`);
    console.log(bad.length === 0 ? '\nall parts answered' : `\n${bad.length} problem${bad.length > 1 ? 's' : ''}:\n${bad.map((x) => `  ${x.kind} ${x.name}: ${x.note}`).join('\n')}`);
    process.exitCode = r.ok ? 0 : 1;
  });

registerReplay(program);
registerRecordedRunCommands(program);

program
  .command('list')
  .description('list scenarios and rigs')
  .action(() => {
    console.log('scenarios:');
    for (const s of listScenarios()) console.log(`  ${s}`);
    console.log('rigs:');
    for (const r of listRigs()) console.log(`  ${r}${r === defaultRigName() ? '  (default)' : ''}`);
  });

program
  .command('sim')
  .description('run the simulated bench as its own process: prints one JSON line describing its ports, runs until Ctrl-C')
  .option('--fault <name>', `switch in a broken firmware variant (${SIM_FAULTS.join(', ')})`)
  .option('--seed <n>', 'seed for relay timing and device clocks', int)
  .option('--ground-truth <file>', 'where to write the ground-truth log (JSON lines)')
  .option('--dut-cmd <command>', 'run your own panel firmware instead of the built-in one (see docs/sim.md)')
  .option('--dut-edge-times', 'with --dut-cmd: send each GPIO change with its contact time (gpio <bcm> <level> <monotonic ns>)')
  .option('--esp-cmd <command>', 'run your own ESP firmware instead of the built-in one (see docs/sim.md)')
  .option('--rig <file>', 'rig file describing the wiring', 'rigs/sim-bench.ts')
  .addHelpText(
    'after',
    `
Examples:
  hil sim                                 the healthy bench; ports printed as one JSON line
  hil sim --fault no-debounce --seed 7    a broken panel, reproducible relay bounce
  hil sim --dut-cmd "python3 panel.py"    your own firmware on the simulated Pi
  hil sim --esp-cmd "./esp 2>&1"          your own firmware on the simulated ESP`,
  )
  .action(async (o: { fault?: string; seed?: number; groundTruth?: string; dutCmd?: string; dutEdgeTimes?: boolean; espCmd?: string; rig: string }) => {
    if (o.dutEdgeTimes && !o.dutCmd) throw new ConfigError('--dut-edge-times changes what the --dut-cmd program is sent: give --dut-cmd too');
    if (o.fault && !(SIM_FAULTS as readonly string[]).includes(o.fault)) {
      throw new ConfigError(`--fault: unknown fault ${JSON.stringify(o.fault)}; the simulated bench has: ${SIM_FAULTS.join(', ')}`);
    }
    const args = ['--import=tsx', SIM_MAIN, '--rig', o.rig];
    if (o.fault) args.push('--fault', o.fault);
    if (o.seed !== undefined) args.push('--seed', String(o.seed));
    if (o.groundTruth) args.push('--ground-truth', o.groundTruth);
    if (o.dutCmd) args.push('--dut-cmd', o.dutCmd);
    if (o.dutEdgeTimes) args.push('--dut-edge-times');
    if (o.espCmd) args.push('--esp-cmd', o.espCmd);
    // Its own process, as real hardware would be; stdout (the JSON line) and stderr pass through.
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 0 : 1))));
    process.exitCode = code;
  });

/**
 * Colour on the console only on a terminal, and never when NO_COLOR is set (no-color.org): a run
 * piped to a file or a CI log gets no escape codes.
 */
function useColor(): boolean {
  return process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
}

/** Before the first test: what runs where, and where to watch it. */
function startBanner(s: RunStart): string {
  const rel = (p: string) => {
    const r = path.relative(process.cwd(), p);
    return r.startsWith('..') ? p : r;
  };
  return [
    `hil run: rig ${s.rig} (${rel(s.rigFile)}), seed ${s.seed ?? 'not set (the sim uses 1; each property picks and reports its own)'}, fault ${s.fault ?? 'none'}`,
    `run folder: ${rel(s.dir)}`,
    `follow the consoles live: tail -f ${s.consoles.map(rel).join(' ')}`,
  ].join('\n');
}

/**
 * The end of a run, compact (mocha has listed every test already): the counts, then only the tests
 * that did not pass, each with its first reason, and the notes tests left. Plain text, no control
 * codes.
 */
function formatVerdictTable(verdicts: readonly TestVerdict[]): string {
  if (verdicts.length === 0) return 'no tests ran';
  const counts = new Map<string, number>();
  for (const v of verdicts) counts.set(v.verdict, (counts.get(v.verdict) ?? 0) + 1);
  const w = Math.max(...verdicts.map((v) => v.verdict.length));
  const indent = ' '.repeat(w + 12);
  // A passing test is listed only for what it noted itself (run counts, reset costs); how its
  // latency limits stand is in latency.csv and the report.
  const own = (v: TestVerdict) => {
    const standings = new Set(v.result.latency.map((j) => j.text));
    return v.verdict === 'PASS' ? v.notes.filter((n) => !standings.has(n)) : v.notes;
  };
  const lines = verdicts
    .filter((v) => v.verdict !== 'PASS' || own(v).length > 0)
    .map(
      (v) =>
        `${v.verdict.padEnd(w)}  ${(v.durationMs / 1000).toFixed(1).padStart(6)} s  ${v.title}` +
        (v.verdict === 'PASS' ? '' : `\n${indent}${v.reasons[0] ?? ''}${v.reasons.length > 1 ? ` (and ${v.reasons.length - 1} more)` : ''}`) +
        own(v).map((n) => `\n${indent}note: ${n}`).join(''),
    );
  return [[...counts].map(([k, n]) => `${n} ${k}`).join(', '), ...lines].join('\n');
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || error instanceof RigFault) {
    console.error(`hil: ${error.message}`);
    // The bench in use is no verdict on anything: nothing ran, as with a usage error.
    process.exit(error instanceof ConfigError || error instanceof BenchInUse ? 2 : 1);
  }
  throw error;
}
