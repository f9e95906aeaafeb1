/** An edge with no press by the harness: someone at the panel or a chattering relay, so the record cannot be trusted (ERROR). */
import type { RuleDefinition } from '../rule.ts';

export const phantomEdge: RuleDefinition = {
  name: 'phantom-edge',
  create(ctx) {
    return {
      on: {
        phantom({ device, gpio, e, t }) {
          ctx.report({ invariant: 'phantom-edge', device, t, at: e.edge!.i, kind: 'rig', key: `phantom:${e.id}`, detail: `${device} saw GPIO ${gpio}${e.button ? ` (${e.button})` : ''} go low at #${e.edge!.i} with no press by the harness (someone at the panel, a chattering relay or noise on the line)` });
        },
      },
    };
  },
};
