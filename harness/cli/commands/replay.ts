import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
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
    .addHelpText(
      'after',
      `
Examples:
  hil replay reports/20261123-130820Z                     the failure again, on the same rig
  hil replay reports/20261123-130820Z --rig rigs/lab.ts   the sim's counterexample on a real bench

Exit code: 0 the counterexample no longer fails, 1 it fails again (reproduced), 2 usage error or nothing to replay.`,
    )
    .action(async (dir: string, o: { rig?: string; test?: string; out: string; dutCmd?: string }) => {
      const replays = readReplays(dir).filter((r) => o.test === undefined || r.test.includes(o.test));
      if (replays.length === 0) throw new ConfigError(`${dir}: no replay matches --test ${JSON.stringify(o.test)}`);
      const metaFile = path.join(dir, RUN_META_FILE);
      const meta = fs.existsSync(metaFile) ? (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as RunMeta) : undefined;
      const rig = o.rig ?? meta?.rigFile;
      if (!rig) throw new ConfigError(`${dir}: no run.json to say which rig it ran on; give --rig`);
      let reproduced = 0;
      for (const r of replays) {
        const dut = o.dutCmd ?? (o.rig ? undefined : meta?.dutCmd);
        console.log(`replaying "${r.test}"\n  counterexample: ${r.counterexample}\n  seed ${r.seed}, path "${r.path}", rig ${rig}${meta?.fault ? `, fault ${meta.fault}` : ''}${dut ? `, dut ${dut}` : ''}`);
        const res = await runScenarios({
          rig,
          out: o.out,
          // The spec where it was recorded, or the same file name in this checkout's scenarios/.
          specs: [fs.existsSync(r.spec) ? r.spec : path.join('scenarios', path.basename(r.spec))],
          grep: `^${escapeRe(r.test)}$`,
          replay: { seed: r.seed, path: r.path, ...(r.commandsReplayPath !== undefined ? { commandsReplayPath: r.commandsReplayPath } : {}) },
          ...(meta?.fault && !o.rig ? { fault: meta.fault } : {}),
          // The same firmware: a counterexample found on an external DUT replays on it, not on the built-in panel.
          ...(dut ? { dutCmd: dut } : {}),
          ...(!o.dutCmd && dut && meta?.dutEdgeTimes ? { dutEdgeTimes: true } : {}),
        });
        const v = res.verdicts[0];
        const failed = v !== undefined && v.verdict !== 'PASS';
        if (failed) reproduced++;
        console.log(`${failed ? 'REPRODUCED' : 'NOT REPRODUCED'}: ${v ? `${v.verdict} ${v.reasons[0] ?? ''}` : 'the test did not run (renamed?)'}\n  report: ${res.html ?? res.dir}`);
      }
      process.exitCode = reproduced > 0 ? 1 : 0;
    });
}
