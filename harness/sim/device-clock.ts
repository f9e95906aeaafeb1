/**
 * A simulated device's own monotonic clock: it starts at an arbitrary offset when the device
 * boots and runs slightly fast or slow (tens of ppm, like a crystal). Host time is
 * `process.hrtime.bigint()`, which is the same CLOCK_MONOTONIC in every worker thread of the
 * process, so workers can build an identical DeviceClock from the same parameters.
 */
export interface DeviceClockParams {
  /** Host time at boot, ns. */
  bootHostNs: bigint;
  /** Device clock reading at boot, µs. */
  offsetUs: number;
  /** Rate error in parts per million (positive: the device clock runs fast). */
  driftPpm: number;
}

export class DeviceClock {
  constructor(readonly params: DeviceClockParams) {}

  /** Device time in µs (integer) for a host time (default: now). */
  nowUs(hostNs: bigint = process.hrtime.bigint()): number {
    const elapsedUs = Number(hostNs - this.params.bootHostNs) / 1000;
    return Math.floor(this.params.offsetUs + elapsedUs * (1 + this.params.driftPpm * 1e-6));
  }

  /** Inverse: the host time (ns) at which the device clock read `tUs`. */
  hostNsAt(tUs: number): bigint {
    const elapsedUs = (tUs - this.params.offsetUs) / (1 + this.params.driftPpm * 1e-6);
    return this.params.bootHostNs + BigInt(Math.round(elapsedUs * 1000));
  }
}

/** Format one `HIL <seq> <t_us> <kind> k=v …` telemetry line (no newline). See docs/telemetry.md. */
export function formatHil(seq: number, tUs: number, kind: string, fields: Record<string, string | number> = {}): string {
  let s = `HIL ${seq} ${tUs} ${kind}`;
  for (const k in fields) {
    const v = String(fields[k]);
    s += ' ' + k + '=' + (/[\s"]/.test(v) || v === '' ? '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"' : v);
  }
  return s;
}
