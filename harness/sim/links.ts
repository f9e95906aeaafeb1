import type { DeviceLink, RigDefinition } from '../rig/types.ts';

/**
 * The device links the simulated bench wires for a rig: the Pi's UART (STATE line every 100 ms)
 * to the ESP, and only when the Pi runs the built-in panel firmware. An external program started
 * with `--dut-cmd` gets GPIO lines and a console, no UART (docs/sim.md). The bench wires exactly
 * these, and the harness's pre-flight reads them, so the two cannot disagree.
 */
export function simDeviceLinks(rig: Pick<RigDefinition, 'devices'>, opts: { dutCmd?: string | undefined }): DeviceLink[] {
  if (opts.dutCmd) return [];
  const bySim = (port: string): string | undefined => Object.entries(rig.devices).find(([, d]) => d.port.sim === port)?.[0];
  const pi = bySim('pi');
  const esp = bySim('esp');
  return pi && esp ? [{ from: pi, to: esp, via: 'UART 115200 (the panel firmware STATE line every 100 ms)' }] : [];
}
