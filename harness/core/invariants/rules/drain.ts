/**
 * The queue drains: the oldest event not yet taken must be taken within its depth × the observed
 * service time × factor + slack of its `q_put`. A take whose `q_put` line arrived late is matched on
 * arrival and never waits here. An event the queue went past (a later one was taken) does not stop
 * the queue: the processor is alive; exactly-once judges whether it was lost. Nor does one the
 * device's own depth report says is no longer queued.
 */
import { eventName } from '../records.ts';
import type { RuleDefinition } from '../rule.ts';

export const drain: RuleDefinition = {
  name: 'drain',
  create(ctx) {
    return {
      on: {},
      tick(at) {
        for (const d of ctx.correlator.devices.values()) {
          const head = d.queue.find((e) => !e.overtaken && !e.gone);
          if (!head?.put) continue;
          const dr = d.limits.drain;
          const allowUs = d.takeAllowanceUs(head);
          const deadline = head.put.t + BigInt(Math.round(allowUs * 1000));
          if (deadline >= at) continue;
          ctx.report({
            invariant: 'drain',
            device: d.name,
            t: deadline,
            at: head.put.i,
            kind: 'hung',
            pressId: head.pressId,
            requestId: head.requestId,
            key: `drain:${head.id}`,
            detail: `${d.name}'s queue is not draining: ${eventName(head)}, queued at depth ${head.put.depth} (#${head.put.i}), was not taken within ${(allowUs / 1000).toFixed(0)} ms (depth × ${(d.serviceUs() / 1000).toFixed(1)} ms observed per event × ${dr.factor} + ${dr.slackMs} ms); ${d.queue.length} event(s) waiting`,
          });
        }
      },
    };
  },
};
