// The simulated bench as a process:
//
//   node --import=tsx harness/sim/main.ts [--fault NAME] [--instrument LIST] [--seed N] [--ground-truth PATH]
//                                          [--dut-cmd "<command>" [--dut-edge-times]] [--esp-cmd "<command>"]
//                                          [--rig FILE | --wiring JSON]
//                                          [--exit-with-parent]
//
// Prints one JSON line on stdout (the description: pid, PTY paths, HTTP URLs, ground-truth path,
// fault, seed) as soon as the PTYs exist; after it, only bench events, one JSON object a line
// ({"shortCommand": …}: a press it performed shorter than the harness can have commanded, see
// command-audit.ts). It runs until SIGINT/SIGTERM (or, with
// --exit-with-parent, until its stdin closes) and exits 0 after a clean shutdown. Everything else
// goes to stderr. Exit 2: bad arguments (an unknown fault lists the valid ones); 1: the bench
// could not start; 3: it did not wind down by itself after stopping (a leak; details on stderr).
// `--wiring` is the rig as data (what `simWiring` in wiring.ts makes): how the harness hands over
// the rig it runs, which need not be a file of its own. See docs/sim.md.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describeShortCommand } from './command-audit.ts';
import { rankAsDevice } from './priority.ts';
import type { SimBenchEvent } from './sim-process.ts';
import { SIM_FAULTS, SimBench, type SimFault } from './bench.ts';
import { PANEL_INSTRUMENTATION, type PanelInstrumentation } from './panel/index.ts';
import type { SimWiring } from './wiring.ts';
import { CONSOLE_LINKS, type ConsoleLinkKind } from './console-link.ts';

const USAGE = `usage: main.ts [--fault NAME] [--instrument LIST] [--seed N] [--ground-truth PATH] [--dut-cmd "<command>" [--dut-edge-times]]
                [--esp-cmd "<command>"] [--rig FILE | --wiring JSON] [--device-power-delay MS] [--link KIND] [--exit-with-parent]
faults: ${SIM_FAULTS.join(', ')}
instrumentation (comma-separated): ${PANEL_INSTRUMENTATION.join(', ')}
console links: ${CONSOLE_LINKS.join(', ')}`;
const DEFAULT_RIG = fileURLToPath(new URL('../../rigs/sim-bench.ts', import.meta.url));
/** After stop(), the process must end by itself within this time. */
const EXIT_GUARD_MS = 5000;

const log = (msg: string): void => void process.stderr.write(`[sim ${process.pid}] ${msg}\n`);
// A parent that died (even crashed) leaves our stdout/stderr pipes broken: a diagnostic written
// into one must not kill the bench before it has shut down and flushed its ground truth.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

function usage(msg: string): never {
  process.stderr.write(`sim: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

interface Args {
  fault?: SimFault;
  instrument: PanelInstrumentation[];
  seed: number;
  groundTruthPath?: string;
  dutCmd?: string;
  dutEdgeTimes: boolean;
  espCmd?: string;
  rig: { file: string } | { wiring: string };
  devicePowerDelayMs?: number;
  consoleLink?: ConsoleLinkKind;
  exitWithParent: boolean;
}

function parse(argv: string[]): Args {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        fault: { type: 'string' },
        instrument: { type: 'string' },
        seed: { type: 'string' },
        'ground-truth': { type: 'string' },
        'dut-cmd': { type: 'string' },
        'dut-edge-times': { type: 'boolean' },
        'esp-cmd': { type: 'string' },
        rig: { type: 'string' },
        wiring: { type: 'string' },
        'device-power-delay': { type: 'string' },
        link: { type: 'string' },
        'exit-with-parent': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const fault = str('fault');
  if (fault !== undefined && !(SIM_FAULTS as readonly string[]).includes(fault)) {
    usage(`unknown fault "${fault}"; valid faults: ${SIM_FAULTS.join(', ')}`);
  }
  const instrument = (str('instrument') ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const i of instrument) {
    if (!(PANEL_INSTRUMENTATION as readonly string[]).includes(i)) usage(`unknown instrumentation "${i}"; valid: ${PANEL_INSTRUMENTATION.join(', ')} (comma-separated)`);
  }
  const seedText = str('seed') ?? '1';
  const seed = Number(seedText);
  if (!/^-?\d+$/.test(seedText) || !Number.isSafeInteger(seed)) usage(`--seed must be an integer, got "${seedText}"`);
  const delayText = str('device-power-delay');
  const delay = delayText === undefined ? undefined : Number(delayText);
  if (delay !== undefined && !(delay >= 0)) usage(`--device-power-delay must be a number of ms >= 0, got "${delayText}"`);
  const dutCmd = str('dut-cmd');
  if (dutCmd !== undefined && dutCmd.trim() === '') usage('--dut-cmd must not be empty');
  const dutEdgeTimes = values['dut-edge-times'] === true;
  if (dutEdgeTimes && dutCmd === undefined) usage('--dut-edge-times changes what the --dut-cmd program is sent: give --dut-cmd too');
  const espCmd = str('esp-cmd');
  if (espCmd !== undefined && espCmd.trim() === '') usage('--esp-cmd must not be empty');
  const link = str('link');
  if (link !== undefined && !(CONSOLE_LINKS as readonly string[]).includes(link)) usage(`unknown console link "${link}"; valid: ${CONSOLE_LINKS.join(', ')}`);
  const wiring = str('wiring');
  if (wiring !== undefined && str('rig') !== undefined) usage('--rig and --wiring both describe the bench: give one');
  return {
    fault: fault as SimFault | undefined,
    instrument: instrument as PanelInstrumentation[],
    seed,
    groundTruthPath: str('ground-truth'),
    dutCmd,
    dutEdgeTimes,
    espCmd,
    rig: wiring !== undefined ? { wiring } : { file: path.resolve(str('rig') ?? DEFAULT_RIG) },
    devicePowerDelayMs: delay,
    consoleLink: link as ConsoleLinkKind | undefined,
    exitWithParent: values['exit-with-parent'] === true,
  };
}

async function loadRig(from: Args['rig']): Promise<SimWiring> {
  let rig: Partial<SimWiring> | undefined;
  let what: string;
  if ('wiring' in from) {
    what = '--wiring';
    try {
      rig = JSON.parse(from.wiring) as Partial<SimWiring>;
    } catch (e) {
      throw new Error(`--wiring is not JSON: ${(e as Error).message}`, { cause: e });
    }
  } else {
    what = `rig file ${from.file}`;
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(from.file).href)) as { default?: unknown };
    } catch (e) {
      throw new Error(`cannot load rig file ${from.file}: ${(e as Error).message}`, { cause: e });
    }
    rig = mod.default as Partial<SimWiring> | undefined;
  }
  if (!rig || typeof rig !== 'object' || typeof rig.name !== 'string' || !rig.boards || !rig.devices || !rig.buttons || !rig.power) {
    throw new Error(`${what}: expected a rig ({ name, boards, devices, buttons, power, … }), got ${rig === null ? 'null' : typeof rig}`);
  }
  return rig as SimWiring;
}


async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  // The sim stands in for hardware that runs beside the host, not on it: a starved sim reads a
  // press and its release together, and a 30 ms press never closes its contact (seen on a loaded
  // 2-core machine: 30 ms holds as 1–9 ms of coil time). So it asks to be scheduled ahead of the
  // harness, where the OS allows (root or CAP_SYS_NICE); elsewhere it runs at the default priority.
  // It asks before its threads start (they inherit it), and for its session too: with autogroup
  // scheduling its nice alone did nothing against the harness, test runners and busy loops in other
  // sessions (its event loop still stalled up to 156 ms under two CPU hogs, and a relay read a
  // 34 ms press 72 ms late, ON and OFF together).
  rankAsDevice('self');
  // Only the description goes to stdout: anything a library logs is diverted to stderr.
  console.log = console.error;
  console.info = console.error;

  let rig: SimWiring;
  let bench: SimBench;
  try {
    rig = await loadRig(args.rig);
    bench = new SimBench(rig, {
      fault: args.fault,
      instrumentation: args.instrument,
      seed: args.seed,
      groundTruthPath: args.groundTruthPath,
      dutCmd: args.dutCmd,
      dutEdgeTimes: args.dutEdgeTimes,
      espCmd: args.espCmd,
      devicePowerDelayMs: args.devicePowerDelayMs,
      consoleLink: args.consoleLink,
      log,
      onShortCommand: (c) => {
        const event: SimBenchEvent = { shortCommand: { ...c, t: String(c.t), reason: describeShortCommand(c) } };
        process.stdout.write(`${JSON.stringify(event)}\n`);
      },
    });
  } catch (e) {
    process.stderr.write(`sim: ${(e as Error).message}\n`);
    process.exit(2);
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`${why}: shutting down`);
      if (args.exitWithParent) process.stdin.destroy();
      await bench.stop();
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.removeAllListeners(s);
      log('stopped');
      setTimeout(() => {
        log(`still alive ${EXIT_GUARD_MS} ms after stop; holding the loop: ${process.getActiveResourcesInfo().join(', ')}`);
        process.exit(3);
      }, EXIT_GUARD_MS).unref();
    })();
    return stopping;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    shutdown(sig).catch((e: unknown) => {
      log(`shutdown failed: ${String(e)}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const control = (line: string): void => {
    if (line === '') return;
    const [op, arg] = line.split(/\s+/);
    try {
      if (op === 'reset-board' && arg) {
        bench.resetBoard(arg);
        log(`control: ${line}`);
      } else {
        log(`control: unknown command ${JSON.stringify(line)} (known: reset-board NAME)`);
      }
    } catch (e) {
      log(`control: ${line}: ${(e as Error).message}`);
    }
  };
  if (args.exitWithParent) {
    // The parent holds our stdin: when it goes away (even SIGKILLed), so do we.
    // It also carries control lines from the host: `reset-board NAME` (a board's reset line).
    let pending = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      const parts = (pending + chunk).split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) control(line.trim());
    });
    // The host's last bytes (its relay release on exit) may still be in the PTYs: let the
    // boards take them before the bench goes down.
    process.stdin.once('end', () => setTimeout(() => onSignal('SIGHUP'), 100));
    process.stdin.once('error', () => onSignal('SIGHUP'));
  }

  const t0 = process.hrtime.bigint();
  try {
    await bench.start();
  } catch (e) {
    process.stderr.write(`sim: cannot start the bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
    await shutdown('start failed');
    return;
  }
  process.stdout.write(`${JSON.stringify(bench.describe())}\n`);
  log(`rig ${rig.name} up in ${Number(process.hrtime.bigint() - t0) / 1e6} ms; seed ${args.seed}; fault ${args.fault ?? 'none'}${args.dutCmd ? `; dut: ${args.dutCmd}` : ''}${args.espCmd ? `; esp: ${args.espCmd}` : ''}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`sim: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
