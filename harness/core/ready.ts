import type { Expectation } from './observation-log.ts';

/**
 * What says a device is ready for input: the rig's `ready` line, or else its first heartbeat.
 * Presses before it are lost (a panel's GPIO callbacks are not registered yet).
 */
export function readyExpectation(device: string, ready?: RegExp): Expectation {
  return ready ? { topic: `${device}.*`, text: ready, describe: `${device} ready (a line matching ${String(ready)})` } : { topic: `${device}.hb`, describe: `${device} ready (its first heartbeat)` };
}

/**
 * Ready at the start of a run: the rig's `ready` line, or, for a device that was already running
 * when the run connected (its heartbeat arrives with no boot line before it), that heartbeat. A
 * device seen booting is ready only at its ready line (it may beat before its inputs are set up).
 * A device that is up and beating need not wait boot time + 10 s for a line it printed long ago.
 */
export function runStartReadyExpectation(device: string, ready?: RegExp): Expectation {
  if (!ready) return readyExpectation(device);
  let booting = false;
  return {
    topic: `${device}.*`,
    where: (o) => {
      if (o.kind === 'boot') booting = true;
      if (o.text !== undefined && ready.test(o.text)) return true;
      return o.kind === 'hb' && !booting;
    },
    describe: `${device} ready (a line matching ${String(ready)}, or a heartbeat from a device already running)`,
  };
}
