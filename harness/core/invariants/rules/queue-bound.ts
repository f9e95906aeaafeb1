/** Queue depth within the device's capacity (cross-checked with its own `cap=`), and no refusal while there was room. */
import { eventName } from '../records.ts';
import type { Facts, RuleDefinition } from '../rule.ts';

export const queueBound: RuleDefinition = {
  name: 'queue-bound',
  create(ctx) {
    const capOf = ({ d, o, f }: Facts['put']): number | undefined => {
      const cfgCap = d.limits.queueCapacity;
      if (f.cap !== undefined && cfgCap !== undefined && Number(f.cap) !== cfgCap) {
        ctx.report({ invariant: 'queue-capacity', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `cap:${d.name}:${String(f.cap)}`, detail: `${d.name} reports queue cap=${String(f.cap)} at #${o.i}, the rig says its capacity is ${cfgCap}` });
      }
      return cfgCap ?? (f.cap !== undefined ? Number(f.cap) : undefined);
    };
    return {
      on: {
        put(x) {
          const cap = capOf(x);
          const { d, o, e, depth } = x;
          if (cap !== undefined && depth > cap) {
            ctx.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `bound:${d.name}:${d.epoch}:${depth}`, detail: `${d.name} queued ${eventName(e)} to depth ${depth}, above its capacity ${cap} (#${o.i})` });
          }
        },
        drop(x) {
          const cap = capOf(x);
          const { d, o, e, depth } = x;
          if (cap !== undefined && depth > cap) {
            ctx.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `bound:${d.name}:${d.epoch}:${depth}`, detail: `${d.name} reports depth ${depth} above its capacity ${cap} while refusing ${eventName(e)} (#${o.i})` });
          } else if (cap !== undefined && depth < cap - 1) {
            // The depth on a refusal is read after the failed put (Python's queue.Full, then qsize()):
            // a take by the processor in between shows as cap − 1, so only less than that is room.
            ctx.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `early-drop:${e.id}`, detail: `${d.name} refused ${eventName(e)} at depth ${depth} of ${cap} (#${o.i}): the queue had room` });
          }
        },
        hb({ d, o, f }) {
          const cap = d.limits.queueCapacity;
          if (cap !== undefined && f.depth !== undefined && Number(f.depth) > cap) {
            ctx.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `bound:${d.name}:${d.epoch}:${Number(f.depth)}`, detail: `${d.name} heartbeat reports queue depth ${Number(f.depth)} above its capacity ${cap} (#${o.i})` });
          }
        },
      },
    };
  },
};
