/** A panel state change (`state` on the `from` device) shows up on the `to` device within the rule's time. */
import type { FieldValue } from '../../observation.ts';
import type { RuleDefinition } from '../rule.ts';

interface Pending {
  key: string;
  value: FieldValue;
  t: bigint;
  i: number;
}

export const causality: RuleDefinition = {
  name: 'causality',
  create(ctx) {
    const rules = ctx.config.causality;
    const pending = rules.map((): Pending[] => []);
    /** Last value of each watched key, per `from` device. */
    const last = new Map<string, Map<string, FieldValue>>();
    return {
      on: {
        state({ d, o, f }) {
          rules.forEach((rule, r) => {
            const list = pending[r]!;
            if (rule.from === d.name) {
              const to = ctx.correlator.devices.get(rule.to);
              let st = last.get(d.name);
              if (!st) last.set(d.name, (st = new Map<string, FieldValue>()));
              for (const key of rule.keys) {
                const v = f[key];
                if (v === undefined) continue;
                const before = st.get(key);
                st.set(key, v);
                if (before === undefined || String(before) === String(v)) continue;
                if (to?.power === 'off') continue;
                list.push({ key, value: v, t: o.t, i: o.i });
              }
            }
            if (rule.to === d.name && Object.entries(rule.toFields).every(([k, v]) => String(f[k]) === String(v))) {
              for (const key of rule.keys) {
                if (f[key] === undefined) continue;
                let lastK = -1;
                for (let k = 0; k < list.length; k++) if (list[k]!.key === key && String(list[k]!.value) === String(f[key])) lastK = k;
                if (lastK < 0) continue;
                // Seen: this change and every earlier change of the same key (superseded) are done.
                const seen = list.filter((p, k) => k <= lastK && p.key === key);
                for (const p of seen) list.splice(list.indexOf(p), 1);
              }
            }
          });
        },
        reset({ d }) {
          last.delete(d.name);
          rules.forEach((rule, r) => {
            if (rule.from === d.name || rule.to === d.name) pending[r]!.length = 0;
          });
        },
      },
      tick(at) {
        rules.forEach((rule, r) => {
          const list = pending[r]!;
          if (list.length === 0) return;
          const limit = BigInt(Math.round(rule.withinMs * 1e6));
          for (let k = 0; k < list.length; ) {
            const p = list[k]!;
            const deadline = p.t + limit;
            if (deadline >= at) {
              k++;
              continue;
            }
            list.splice(k, 1);
            ctx.report({ invariant: 'causality', device: rule.to, t: deadline, at: p.i, kind: 'firmware', key: `causal:${rule.from}>${rule.to}:${p.i}:${p.key}`, detail: `${rule.from} changed ${p.key} to ${p.value} (#${p.i}) but ${rule.to} did not show it within ${rule.withinMs} ms` });
          }
        });
      },
    };
  },
};
