/** A device restarts only when the harness cycles its power: a watchdog line, a boot nobody asked for, or a clock that went back is a firmware failure. */
import type { RuleDefinition } from '../rule.ts';

export const reboot: RuleDefinition = {
  name: 'reboot',
  create(ctx) {
    return {
      on: {
        reboot({ d, o, how, prev, lost }) {
          const tail = lost.length > 0 ? `; events lost with it: ${lost.join(', ')}` : '';
          let detail: string;
          if (how === 'boot') detail = `${d.name} rebooted without a power cycle (boot line at #${o.i}, previous seq ${prev ?? '?'})${tail}`;
          else if (how === 'clock') detail = `${d.name} restarted without a boot line: seq ${prev ?? '?'} then ${o.seq ?? '?'} and its clock went back at #${o.i}${tail}`;
          else {
            const extra = Object.entries(o.fields ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
            detail = `${d.name} watchdog reset at #${o.i}${extra ? ` (${extra})` : ''}${tail}`;
          }
          ctx.report({ invariant: 'reboot', device: d.name, t: o.t, at: o.i, kind: 'firmware', detail });
        },
      },
    };
  },
};
