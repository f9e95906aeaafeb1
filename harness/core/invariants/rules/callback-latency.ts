/** A button callback's own duration (`cb dur_us`) and edge → callback end, on the device clock: every sample under `max`. */
import { eventName } from '../records.ts';
import type { RuleDefinition } from '../rule.ts';

export const callbackLatency: RuleDefinition = {
  name: 'callback-latency',
  create(ctx) {
    return {
      on: {
        cb({ d, o, e }) {
          const durUs = e.cb!.durUs;
          const lim = d.limits.callbackUs.max;
          if (lim !== undefined && durUs > lim) {
            ctx.report({ invariant: 'callback-latency', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `cb:${e.id}`, detail: `${eventName(e)}: ${d.name}'s callback took ${durUs} µs (limit ${lim} µs, #${o.i})` });
            return;
          }
          const lim2 = d.limits.edgeToCallbackUs.max;
          if (lim2 !== undefined && e.edge && o.tDev! - e.edge.tDev > lim2) {
            ctx.report({ invariant: 'callback-latency', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `e2cb:${e.id}`, detail: `${eventName(e)}: ${o.tDev! - e.edge.tDev} µs from ${d.name}'s edge line to the end of its callback (limit ${lim2} µs, #${o.i})` });
          }
        },
      },
    };
  },
};
