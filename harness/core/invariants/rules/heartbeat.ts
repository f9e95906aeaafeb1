/** Every thread that has beaten beats again within its period plus margin; all of them silent is a hang. */
import type { RuleDefinition } from '../rule.ts';

export const heartbeat: RuleDefinition = {
  name: 'heartbeat',
  create(ctx) {
    const c = ctx.correlator;
    return {
      on: {
        hb({ d, o, f }) {
          const thread = String(f.thread ?? 'main');
          const prev = d.threads.get(thread);
          const hb = d.limits.heartbeat;
          if (hb && prev && !prev.silent) {
            const gapMs = (o.tDev! - prev.tDev) / 1000;
            if (gapMs > hb.periodMs + hb.marginMs) {
              ctx.report({ invariant: 'heartbeat', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `hb-late:${d.name}:${thread}:${o.i}`, detail: `${d.name} thread ${thread} beat ${gapMs.toFixed(0)} ms after its previous heartbeat (period ${hb.periodMs} ms + margin ${hb.marginMs} ms; #${prev.i} → #${o.i})` });
            }
          }
          const wasSilent = prev?.silent ?? false;
          d.threads.set(thread, { t: o.t, i: o.i, tDev: o.tDev!, silent: false });
          if (wasSilent) d.silentReported = [...d.threads.values()].some((b) => b.silent);
        },
      },
      tick(at) {
        for (const d of c.devices.values()) {
          const hb = d.limits.heartbeat;
          if (!hb || d.power === 'off' || d.threads.size === 0) continue;
          const limit = BigInt(Math.round((hb.periodMs + hb.marginMs) * 1e6));
          let silentAll = true;
          let latest = 0n;
          let lastI = -1;
          for (const [thread, b] of d.threads) {
            const deadline = b.t + limit;
            if (deadline >= at) {
              silentAll = false;
              continue;
            }
            if (deadline > latest) [latest, lastI] = [deadline, b.i];
            if (b.silent) continue;
            b.silent = true;
            d.silentReported = true;
            ctx.report({ invariant: 'heartbeat', device: d.name, t: deadline, at: b.i, kind: 'hung', key: `hb-silent:${d.name}:${thread}:${b.i}`, detail: `${d.name} thread ${thread} has not beaten for ${hb.periodMs + hb.marginMs} ms (last heartbeat at #${b.i}): stuck or dead` });
          }
          if (silentAll && d.threads.size > 1) {
            const depth = d.queue.length;
            const ids = c.pendingIds(d);
            ctx.report({ invariant: 'heartbeat', device: d.name, t: latest, at: lastI, kind: 'hung', key: `hung:${d.name}:${lastI}`, detail: `${d.name} is HUNG: none of its ${d.threads.size} threads (${[...d.threads.keys()].join(', ')}) has beaten for ${hb.periodMs + hb.marginMs} ms; queue frozen at depth ${depth}${depth > 0 ? ` (${ids.slice(0, 5).join(', ')}${depth > 5 ? ', …' : ''})` : ''}` });
          }
        }
      },
    };
  },
};
