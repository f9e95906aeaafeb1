/** `seq` increases by one per line: a gap or a repeat is the link or the host losing lines (ERROR), never the firmware. */
import type { RuleDefinition } from '../rule.ts';

export const serialSeq: RuleDefinition = {
  name: 'serial-seq',
  create(ctx) {
    return {
      on: {
        seqGap({ d, o, prev, seq }) {
          ctx.report({ invariant: 'serial-seq', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `lost ${seq - prev - 1} serial line(s) from ${d.name}: seq ${prev} then ${seq} at #${o.i} (a link or host fault, not the firmware)` });
        },
        seqRepeat({ d, o, prev, seq }) {
          ctx.report({ invariant: 'serial-seq', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `serial lines from ${d.name} repeated or out of order: seq ${prev} then ${seq} at #${o.i}` });
        },
      },
    };
  },
};
