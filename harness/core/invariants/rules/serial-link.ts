/** The serial port stays connected and delivers whole lines; relay boards stay with us. A rig fault (ERROR). */
import { DEVICE_KIND } from '../../topics.ts';
import type { RuleDefinition } from '../rule.ts';

export const serialLink: RuleDefinition = {
  name: 'serial-link',
  create(ctx) {
    return {
      on: {
        link({ d, o, f }) {
          if (o.kind === DEVICE_KIND.disconnect) {
            if (d.power !== 'off') ctx.report({ invariant: 'serial-link', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `the serial port of ${d.name} disconnected at #${o.i} (${String(f.reason ?? '')}); lines may be lost` });
          } else if (o.kind === DEVICE_KIND.truncated) {
            ctx.report({ invariant: 'serial-link', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `a line from ${d.name} was longer than ${String(f.cap)} bytes and was cut at #${o.i} (a garbled or unterminated line on the link)` });
          } else {
            ctx.report({ invariant: 'serial-link', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `${d.name}: ${String(f.reason ?? 'serial fault')}` });
          }
        },
        boardFault({ o, f }) {
          ctx.report({ invariant: 'serial-link', device: o.source, t: o.t, at: o.i, kind: 'rig', detail: `${o.source}: ${o.kind}${f.reason !== undefined ? ` (${String(f.reason)})` : ''} at #${o.i}` });
        },
      },
    };
  },
};
