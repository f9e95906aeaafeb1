/**
 * The simulated bench as the harness uses it: the one module of harness/sim that the runner and
 * the command line import. It is given the rig the run uses and starts a sim process wired exactly
 * as that rig describes (its boards, relay pins, buttons and GPIOs, power lines, devices), so a
 * user's own simulated rig is the bench that runs, not a copy of rigs/sim-bench.ts.
 *
 * Everything else in harness/sim is the simulator's inside; the lint forbids importing it from
 * elsewhere (tests excepted).
 * @module
 */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import type { RigDefinition } from '../rig/types.ts';
import { SIM_FAULTS, type SimFault } from './bench.ts';
import { CONSOLE_LINKS } from './console-link.ts';
import { PANEL_INSTRUMENTATION } from './panel/faults.ts';
import { startSimBench, type SimBenchHandle, type StartSimBenchOptions } from './sim-process.ts';
import { planBench, simWiring } from './wiring.ts';

export { SIM_FAULTS, type SimFault } from './bench.ts';
export { PANEL_INSTRUMENTATION } from './panel/faults.ts';
/** How the simulated consoles can reach their ports (`--link`). */
export const SIM_LINKS: readonly string[] = CONSOLE_LINKS;

/** Whether the sim's consoles cross a UART on this link (`uart`, `usb-ftdi`), or reach the PTY as printed (`direct`, the default). */
export function simConsoleCrossesUart(link: string | undefined): boolean {
  return link !== undefined && link !== 'direct';
}
export { simDeviceLinks } from './links.ts';
export type { SimBenchHandle, SimExit } from './sim-process.ts';

/** The sim process's entry point, for `hil sim` (which runs it in the foreground). */
export const SIM_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Options of {@link startSimulatedBench}: those of the sim process, with the names still unchecked. */
export interface SimulatedBenchOptions extends Omit<StartSimBenchOptions, 'rig' | 'wiring' | 'fault' | 'instrumentation'> {
  /** `--fault`: a broken firmware variant, one of {@link SIM_FAULTS}. Default: none. */
  fault?: string;
  /** `--instrument`: panel instrumentation variants, from {@link PANEL_INSTRUMENTATION}. Default: none. */
  instrumentation?: readonly string[];
}

/** Check fault and instrumentation names before anything starts; a ConfigError lists the valid ones. */
export function checkSimOptions(opts: Pick<SimulatedBenchOptions, 'fault' | 'instrumentation' | 'link'>): void {
  if (opts.link !== undefined && !SIM_LINKS.includes(opts.link)) throw new ConfigError(`--link: unknown console link ${JSON.stringify(opts.link)}; the simulated bench has: ${SIM_LINKS.join(', ')}`);
  for (const i of opts.instrumentation ?? []) {
    if (!(PANEL_INSTRUMENTATION as readonly string[]).includes(i)) throw new ConfigError(`--instrument: unknown variant ${JSON.stringify(i)}; the simulated panel has: ${PANEL_INSTRUMENTATION.join(', ')}`);
  }
  if (opts.fault && !(SIM_FAULTS as readonly string[]).includes(opts.fault)) {
    throw new ConfigError(`--fault: unknown fault ${JSON.stringify(opts.fault)}; the simulated bench has: ${SIM_FAULTS.join(', ')}`);
  }
}

/**
 * Start the simulated bench for `rig`, wired as the rig describes. The wiring is checked here
 * first, so a rig the sim cannot build is a ConfigError naming the field before any process starts.
 */
export async function startSimulatedBench(rig: RigDefinition, opts: SimulatedBenchOptions = {}): Promise<SimBenchHandle> {
  checkSimOptions(opts);
  const wiring = simWiring(rig);
  try {
    planBench(wiring);
  } catch (e) {
    throw new ConfigError(`the simulated bench cannot wire ${(e as Error).message}`);
  }
  const { fault, instrumentation, ...rest } = opts;
  return startSimBench({
    ...rest,
    wiring,
    ...(fault ? { fault: fault as SimFault } : {}),
    ...(instrumentation?.length ? { instrumentation } : {}),
  });
}
