// Smoke entry: `node --import=tsx harness/sim/panel/demo.ts [fault]` boots the panel, presses
// REACTOR_START and PRESSURE_UP with contact bounce, prints the console to stdout, powers off and
// lets the process end by itself (which proves nothing of the panel holds the event loop).
import { BUTTONS, DEFAULT_GPIO_MAP } from '../../devices/panel.ts';
import { PANEL_FAULTS, PanelFirmware, type PanelFault } from './index.ts';

const fault = process.argv[2] as PanelFault | undefined;
if (fault !== undefined && !PANEL_FAULTS.includes(fault)) {
  process.stderr.write(`demo: unknown fault ${fault}; one of ${PANEL_FAULTS.join(', ')}\n`);
  process.exitCode = 2;
} else {
  const fw = new PanelFirmware({
    gpioMap: { ...DEFAULT_GPIO_MAP },
    fault,
    seed: 1,
    clock: { offsetUs: 5_000_000, driftPpm: 30 },
    console: (chunk) => process.stdout.write(chunk),
    uartTx: (line) => process.stdout.write(`[uart] ${line}\n`),
  });
  const press = (btn: (typeof BUTTONS)[number], at: bigint): void => {
    const pin = DEFAULT_GPIO_MAP[btn];
    for (const [dt, level] of [[0, 0], [300, 1], [700, 0], [60_000, 1], [60_400, 0], [60_900, 1]] as const) {
      fw.deliverGpio(pin, level, at + BigInt(dt) * 1000n);
    }
  };
  try {
    await fw.powerOn();
    const t = process.hrtime.bigint();
    press('REACTOR_START', t + 5_000_000n);
    press('PRESSURE_UP', t + 150_000_000n);
    await new Promise((r) => setTimeout(r, 600));
  } finally {
    await fw.powerOff();
  }
}
