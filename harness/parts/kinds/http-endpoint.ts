/**
 * Part kind: a device's HTTP server, reached with recorded requests (harness/core/http-actuator.ts).
 * Its config is a rig's `devices.<name>.http`: a URL, or on the simulated bench the name of the
 * server the sim reports.
 * @module
 */
import net from 'node:net';
import { z } from 'zod';
import { HttpActuator } from '../../core/http-actuator.ts';
import type { ObservationLog } from '../../core/observation-log.ts';
import type { PartCheck } from '../kind.ts';
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
  /**
   * The doctor's check: a TCP connection to the server's host and port within `withinMs`. No
   * request is sent (a request may change the device's state; the doctor exercises nothing).
   */
  async doctor(url: string, { withinMs }: { withinMs: number }): Promise<PartCheck> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return { ok: false, foundAt: '—', note: `${JSON.stringify(url)} is not a URL` };
    }
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const t0 = process.hrtime.bigint();
    const error = await new Promise<string | undefined>((resolve) => {
      const socket = net.connect({ host: u.hostname, port });
      const done = (why: string | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(why);
      };
      const timer = setTimeout(() => done(`no connection within ${withinMs} ms: is the device on the network, the address right?`), withinMs);
      socket.once('connect', () => done(undefined));
      socket.once('error', (e: NodeJS.ErrnoException) => done(`cannot connect (${e.code ?? e.message}): is the device on the network, its server running, the address right?`));
    });
    if (error) return { ok: false, foundAt: '—', note: `${u.host}: ${error}` };
    return { ok: true, foundAt: `${u.hostname}:${port}`, handshakeMs: Number(process.hrtime.bigint() - t0) / 1e6, note: 'server accepts connections (nothing requested)' };
  },
};
