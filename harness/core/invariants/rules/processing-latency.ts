/** `q_put` → `done` on the device clock, judged once both lines are in (whichever came last). */
import { eventName } from '../records.ts';
import type { RuleDefinition } from '../rule.ts';

export const processingLatency: RuleDefinition = {
  name: 'processing-latency',
  create(ctx) {
    return {
      on: {
        processed({ d, e, t, at }) {
          const lim = d.limits.processingMs.max;
          if (lim === undefined) return;
          const ms = (e.done!.tDev - e.put!.tDev) / 1000;
          if (ms > lim) {
            ctx.report({ invariant: 'processing-latency', device: d.name, t, at, kind: 'firmware', pressId: e.pressId, requestId: e.requestId, key: `proc:${e.id}`, detail: `${eventName(e)}: ${ms.toFixed(1)} ms from q_put to done on ${d.name} (limit ${lim} ms)` });
          }
        },
      },
    };
  },
};
