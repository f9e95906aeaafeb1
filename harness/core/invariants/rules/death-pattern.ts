/** No device prints a forbidden line (Traceback, panic, Guru Meditation, …): checked on every line. */
import { findDeathPattern } from '../../death-watch.ts';
import type { RuleDefinition } from '../rule.ts';

export const deathPattern: RuleDefinition = {
  name: 'death-pattern',
  create(ctx) {
    return {
      on: {
        text({ d, o }) {
          const text = o.text!;
          // The device's one resolved list (resolveDeathPatterns), the same the live watch scans with.
          const re = findDeathPattern(text, d.limits.deathPatterns);
          if (re) ctx.report({ invariant: 'death-pattern', device: d.name, t: o.t, at: o.i, kind: 'firmware', detail: `${d.name} printed a forbidden line (${String(re)}) at #${o.i}: ${text.slice(0, 200)}` });
        },
      },
    };
  },
};
