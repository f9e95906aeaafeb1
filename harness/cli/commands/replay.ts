import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Option, type Command } from 'commander';
import { ConfigError } from '../../core/errors.ts';
import type { ReplayRecord } from '../../runner/property.ts';
import { RUN_META_FILE, runScenarios, type RunMeta } from '../../runner/run.ts';

/** The replay files of a run folder (`replay/*.json`, written when a property failed). */
export function readReplays(dir: string): ReplayRecord[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`${dir}: no such run folder`);
  const rdir = path.join(dir, 'replay');
  if (!fs.existsSync(rdir)) throw new ConfigError(`${dir}: no replay/ folder — no property failed in that run, so there is nothing to replay`);
  return fs
    .readdirSync(rdir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(rdir, f), 'utf8')) as ReplayRecord);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `hil replay <run dir>`: re-run exactly the shrunk counterexample(s) a property found (same spec,
 * same test, fast-check seed and path), on the run's rig or any other. Exit 1 when a failure
 * reproduces, 0 when none does.
 *
 * The same presses are not the same run: real firmware has threads, and a bench has relays and a
 * host with their own timing, so a race or a deadlock that needs one interleaving may pass one run
 * of its own counterexample and fail the next (seen: a gpiozero panel's deadlock found and shrunk,
 * then passed its first replay). So a counterexample that passes is run again, up to `--attempts`
 * times, and the result says on which attempt it failed, or that it passed every one.
 */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description("re-run exactly the counterexample a failed property recorded in a run folder, on that run's rig or another")
    .argument('<run dir>', 'a run folder (reports/<run id>) with replay/*.json')
    .option('--rig <name|file>', "rig to replay on (default: the run's own)")
    .option('--test <text>', 'only the property whose test title contains this')
    .option('--out <dir>', 'reports root for the replay run', 'reports')
    .option('--dut-cmd <command>', "simulated bench: the program to run as the Pi (default: the run's own --dut-cmd, if it had one)")
    .option('--attempts <n>', 'run a counterexample that passes again, up to n times in all (a timing-dependent failure may need more than one)', '3')
    .addHelpText(
      'after',
      `
Examples:
  hil replay reports/20261123-130820Z                     the failure again, on the same rig
  hil replay reports/20261123-130820Z --rig rigs/lab.ts   the sim's counterexample on a real bench
  hil replay reports/20261123-130820Z --attempts 10       a race that reproduces only sometimes: up to 10 runs

Exit code: 0 the counterexample passed every attempt, 1 it failed again (reproduced), 2 usage error or
nothing to replay, 3 the bench could not judge it (every attempt ended in ERROR), 130 interrupted.`,
    )
    .addOption(new Option('--exact-test <title>', 'internal: the one replay whose test title is exactly this').hideHelp())
    .addOption(new Option('--attempt-of <k/n>', 'internal: this run is attempt k of n').hideHelp())
    .action(async (dir: string, o: ReplayOptions) => {
      const attempts = Number(o.attempts);
      if (!Number.isInteger(attempts) || attempts < 1) throw new ConfigError(`--attempts: expected a whole number of runs, 1 or more; got ${JSON.stringify(o.attempts)}`);
      const replays = readReplays(dir).filter((r) => (o.exactTest !== undefined ? r.test === o.exactTest : o.test === undefined || r.test.includes(o.test)));
      if (replays.length === 0) throw new ConfigError(`${dir}: no replay matches --test ${JSON.stringify(o.test ?? o.exactTest)}`);
      const metaFile = path.join(dir, RUN_META_FILE);
      const meta = fs.existsSync(metaFile) ? (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as RunMeta) : undefined;
      const rig = o.rig ?? meta?.rigFile;
      if (!rig) throw new ConfigError(`${dir}: no run.json to say which rig it ran on; give --rig`);
      if (replays.length === 1 && attempts === 1) {
        process.exitCode = await replayHere(replays[0]!, rig, meta, o);
        return;
      }
      // Each run in a process of its own: scenario files are modules, which load once per process,
      // so a second run in this one would find no test to run.
      let reproduced = 0;
      let unjudged = 0;
      for (const r of replays) {
        const tally = { passed: 0, errors: 0 };
        for (let attempt = 1; attempt <= attempts; attempt++) {
          const code = await replayInChild(dir, r.test, `${attempt}/${attempts}`, o);
          if (code === 1) {
            reproduced++;
            break;
          }
          if (code === 0) tally.passed++;
          else if (code === 3) tally.errors++;
          else {
            // A usage error or an interrupted run: the same on every attempt, or the user's wish.
            process.exitCode = code;
            return;
          }
          if (attempt === attempts) {
            console.log(`${tally.passed > 0 ? 'NOT REPRODUCED' : 'NOT JUDGED'} in ${attempts} attempt(s): ${tally.passed} passed, ${tally.errors} not judged (bench ERROR)`);
            if (tally.passed === 0) unjudged++;
          }
        }
      }
      process.exitCode = reproduced > 0 ? 1 : unjudged > 0 ? 3 : 0;
    });
}

interface ReplayOptions {
  rig?: string;
  test?: string;
  exactTest?: string;
  attemptOf?: string;
  out: string;
  dutCmd?: string;
  attempts: string;
}

/** `hil replay` itself, in a child process, for one replay and one attempt; resolves with its exit code. */
function replayInChild(dir: string, test: string, attemptOf: string, o: ReplayOptions): Promise<number> {
  const args = [...process.execArgv, process.argv[1]!, 'replay', dir, '--exact-test', test, '--attempt-of', attemptOf, '--attempts', '1', '--out', o.out];
  if (o.rig !== undefined) args.push('--rig', o.rig);
  if (o.dutCmd !== undefined) args.push('--dut-cmd', o.dutCmd);
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  return new Promise((resolve) => {
    child.once('error', () => resolve(2));
    child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 2)));
  });
}

/** Replay one counterexample in this process. 0 passed, 1 reproduced, 3 the bench could not judge it. */
async function replayHere(r: ReplayRecord, rig: string, meta: RunMeta | undefined, o: ReplayOptions): Promise<number> {
  const dut = o.dutCmd ?? (o.rig ? undefined : meta?.dutCmd);
  const fault = meta?.fault && !o.rig ? meta.fault : undefined;
  const [k, n] = (o.attemptOf ?? '1/1').split('/').map(Number) as [number, number];
  const of = n > 1 ? `attempt ${k} of ${n}` : undefined;
  console.log(`replaying "${r.test}"${of ? ` (${of})` : ''}\n  counterexample: ${r.counterexample}\n  seed ${r.seed}, path "${r.path}", rig ${rig}${fault ? `, fault ${fault}` : ''}${dut ? `, dut ${dut}` : ''}`);
  const res = await runScenarios({
    rig,
    out: o.out,
    // The spec where it was recorded, or the same file name in this checkout's scenarios/.
    specs: [fs.existsSync(r.spec) ? r.spec : path.join('scenarios', path.basename(r.spec))],
    grep: `^${escapeRe(r.test)}$`,
    replay: { seed: r.seed, path: r.path, ...(r.commandsReplayPath !== undefined ? { commandsReplayPath: r.commandsReplayPath } : {}), ...(r.value !== undefined ? { value: r.value } : {}) },
    ...(fault ? { fault } : {}),
    // The same firmware: a counterexample found on an external DUT replays on it, not on the built-in panel.
    ...(dut ? { dutCmd: dut } : {}),
    ...(!o.dutCmd && dut && meta?.dutEdgeTimes ? { dutEdgeTimes: true } : {}),
  });
  const v = res.verdicts[0];
  const what = v ? `${v.verdict} ${v.reasons[0] ?? ''}` : 'the test did not run (renamed?)';
  const report = `report: ${res.html ?? res.dir}`;
  if (v?.verdict === 'ABORTED') {
    console.log(`ABORTED: ${what}\n  ${report}`);
    return 130;
  }
  if (v !== undefined && v.verdict !== 'PASS' && v.verdict !== 'ERROR') {
    console.log(`REPRODUCED: ${what}\n  ${of ? `on ${of}; ` : ''}${report}`);
    return 1;
  }
  if (v?.verdict === 'ERROR') {
    console.log(`NOT JUDGED: ${what}\n  the bench could not judge this run${of && k < n ? '; running it again' : ''}\n  ${report}`);
    return 3;
  }
  if (v === undefined) throw new ConfigError(`${r.spec}: no test titled ${JSON.stringify(r.test)} ran (renamed since the run?)`);
  console.log(`NOT REPRODUCED: ${what}\n  ${of && k < n ? 'passed; running it again (a timing-dependent failure may need another run)\n  ' : ''}${report}`);
  return 0;
}
