/**
 * The simulated bench with the Pi played by an external program (`--dut-cmd`). The sim gives an
 * external Pi no UART to the ESP, so the Pi → ESP causality check of sim-bench cannot be judged
 * here and is left out; everything else is sim-bench's.
 */
import { defineRig } from '../harness/rig/types.ts';
import simBench from './sim-bench.ts';

export default defineRig({
  ...simBench,
  name: 'sim-external-pi',
  description: 'Simulated bench with an external Pi program (--dut-cmd): no Pi → ESP UART, so no causality check',
  invariants: { ...simBench.invariants, causality: [] },
});
