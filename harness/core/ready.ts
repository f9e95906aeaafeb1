import type { Expectation } from './observation-log.ts';

/**
 * What says a device is ready for input: the rig's `ready` line, or else its first heartbeat.
 * Presses before it are lost (a panel's GPIO callbacks are not registered yet).
 */
export function readyExpectation(device: string, ready?: RegExp): Expectation {
  return ready ? { topic: `${device}.*`, text: ready, describe: `${device} ready (a line matching ${String(ready)})` } : { topic: `${device}.hb`, describe: `${device} ready (its first heartbeat)` };
}

/**
 * Ready at the start of a run, when the devices may already be running (a bench left powered
 * between runs): the rig's `ready` line, or a device that is up and beating. The console opens
 * at an arbitrary moment of the device's life, and bytes sent before it opened are gone, so:
 * - a device seen booting (a `boot` or `wdt` line) is ready only at its ready line: it may beat
 *   before its inputs are set up;
 * - a device seen beating with no boot line was powered before its first heartbeat arrived, so its
 *   ready line comes within `bootMs` of that heartbeat or came before the console opened: a
 *   heartbeat `bootMs` after the first one, with no boot and no ready line meanwhile, is ready.
 *   (Taking the first heartbeat itself would take a device caught between its boot line and its
 *   ready line for ready.)
 * A device without a `ready` line is ready at its first heartbeat, as always.
 */
export function runStartReadyExpectation(device: string, ready: RegExp | undefined, bootMs: number): Expectation {
  if (!ready) return readyExpectation(device);
  let booting = false;
  let firstBeat: bigint | undefined;
  const bootNs = BigInt(Math.round(bootMs * 1e6));
  return {
    topic: `${device}.*`,
    where: (o) => {
      if (o.text !== undefined && ready.test(o.text)) return true;
      if (o.kind === 'boot' || o.kind === 'wdt') booting = true;
      if (booting || o.kind !== 'hb') return false;
      firstBeat ??= o.t;
      return o.t - firstBeat >= bootNs;
    },
    describe: `${device} ready (a line matching ${String(ready)}, or heartbeats for its boot time ${bootMs} ms with no boot line)`,
  };
}
