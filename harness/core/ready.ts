import type { Expectation } from './observation-log.ts';

/**
 * What says a device is ready for input: the rig's `ready` line, or else its first heartbeat.
 * Presses before it are lost (a panel's GPIO callbacks are not registered yet).
 */
export function readyExpectation(device: string, ready?: RegExp): Expectation {
  return ready ? { topic: `${device}.*`, text: ready, describe: `${device} ready (a line matching ${String(ready)})` } : { topic: `${device}.hb`, describe: `${device} ready (its first heartbeat)` };
}
