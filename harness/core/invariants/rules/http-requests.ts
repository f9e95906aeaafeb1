/**
 * An HTTP request the device accepted (202) is one event on it (`q_put req=`) within
 * `requestEventMs`; one it refused (503) is not queued; one answered 202 is not refused.
 */
import type { RequestRecord } from '../records.ts';
import type { RuleDefinition } from '../rule.ts';

export const httpRequests: RuleDefinition = {
  name: 'http-requests',
  create(ctx) {
    let awaiting: RequestRecord[] = [];
    return {
      on: {
        response({ r, o }) {
          if (!r.response || o.kind !== 'response') return;
          const e = r.events[0];
          if (r.response.status === 202) {
            if (e?.drop) ctx.report({ invariant: 'exactly-once', device: r.device, t: o.t, at: o.i, kind: 'firmware', requestId: r.requestId, key: `req-202-drop:${r.requestId}`, detail: `request ${r.requestId} was answered 202 (queued) but ${r.device} refused it (q_drop at #${e.drop.i})` });
            else if (!e) awaiting.push(r);
          } else if (r.response.status === 503) {
            if (e?.put) ctx.report({ invariant: 'exactly-once', device: r.device, t: o.t, at: o.i, kind: 'firmware', requestId: r.requestId, key: `req-503-put:${r.requestId}`, detail: `request ${r.requestId} was answered 503 (refused) but ${r.device} queued it (q_put at #${e.put.i})` });
          }
        },
      },
      tick(at) {
        if (awaiting.length === 0) return;
        const limit = BigInt(Math.round(ctx.config.requestEventMs * 1e6));
        awaiting = awaiting.filter((r) => {
          if (r.events.length > 0) return false;
          const deadline = r.response!.t + limit;
          if (deadline >= at) return true;
          if (ctx.correlator.devices.get(r.device)?.power === 'off') return false;
          ctx.report({ invariant: 'exactly-once', device: r.device, t: deadline, at: r.response!.i, kind: 'firmware', requestId: r.requestId, key: `req-lost:${r.requestId}`, detail: `request ${r.requestId} (${r.method} ${r.path}) was answered 202 (queued) but ${r.device} printed no q_put req=${r.requestId} within ${ctx.config.requestEventMs} ms: the event vanished` });
          return false;
        });
      },
    };
  },
};
