/**
 * Part kind: a device's HTTP server, reached with recorded requests (harness/core/http-actuator.ts).
 * Its config is a rig's `devices.<name>.http`: a URL, or on the simulated bench the name of the
 * server the sim reports.
 *
 * It has no doctor check: the doctor exercises nothing, and any request may change a device's
 * state; a bare TCP connection proves nothing either (on a network with a transparent proxy, a
 * connection to an address with no device behind it is accepted).
 * @module
 */
import { z } from 'zod';
import { HttpActuator } from '../../core/http-actuator.ts';
import type { ObservationLog } from '../../core/observation-log.ts';
import { expected } from '../schema.ts';

const URL_OR_SIM = 'an HTTP server { url: "http://…" } or, on the simulated bench, { sim: "<device>" }';

/** Its HTTP server. `sim` means: the address the sim reports. */
export const httpEndpointSchema = z.union(
  [
    z.object({
      /** Base URL of the device's web server (`http://192.168.50.20`). */
      url: z.string(expected('a URL (a string)')),
    }),
    z.object({
      /** Simulated bench only: the server the sim reports for this device (`esp`). */
      sim: z.string(expected('the name of a sim HTTP server (a string)')),
    }),
  ],
  expected(URL_OR_SIM),
);

export const httpEndpoint = {
  describe: "a device's HTTP server",
  /** Build the actuator for the resolved base URL. */
  create(name: string, url: string, ctx: { log: ObservationLog; guard: (what: string) => void }): HttpActuator {
    return new HttpActuator(name, url, ctx.log, { guard: ctx.guard });
  },
};
