/** Events are taken in the order they were queued (FIFO), judged on put order against take order. */
import { eventName } from '../records.ts';
import type { RuleDefinition } from '../rule.ts';

export const order: RuleDefinition = {
  name: 'order',
  create(ctx) {
    return {
      on: {
        outOfOrder({ d, e, ahead, t, at }) {
          const names = ahead.map(eventName);
          ctx.report({ invariant: 'order', device: d.name, t, at, kind: 'firmware', pressId: e.pressId, requestId: e.requestId, key: `order:${e.id}`, detail: `${d.name} took ${eventName(e)} (#${e.get?.i ?? at}) before ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}, queued earlier: not FIFO` });
        },
      },
    };
  },
};
