/**
 * The relay-limit rule (harness/core/relay-limits.ts), which the rig check, the presser and the
 * property generator all use: the earliest start it gives is allowed, and a step earlier is not.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { earliestPressMs, holdAllowed, limitConflict, mechanicalLimitsSchema, pressesInWindow } from '../../harness/core/relay-limits.ts';

const limits = { minHoldMs: 30, minGapMs: 40, maxPressesPerSec: 3 };

describe('relay-limit rule', function () {
  it('names the limit a press breaks: the gap first, then the rate (the n-th press within 1 s)', function () {
    expect(limitConflict(limits, { releasedAtMs: 100, startsMs: [] }, 139)).to.deep.equal({ limit: 'minGapMs', sinceReleaseMs: 39 });
    expect(limitConflict(limits, { releasedAtMs: 100, startsMs: [] }, 140)).to.equal(undefined);
    expect(limitConflict(limits, { releasedAtMs: undefined, startsMs: [0, 10, 20] }, 999)).to.deep.equal({ limit: 'maxPressesPerSec', press: 4 });
    expect(limitConflict(limits, { releasedAtMs: undefined, startsMs: [0, 10, 20] }, 1000)).to.equal(undefined);
    expect(limitConflict(limits, { releasedAtMs: 139, startsMs: [0, 10, 20] }, 140)?.limit).to.equal('minGapMs');
    expect(limitConflict(limits, { releasedAtMs: 100, startsMs: [] }, 139.9995, 1e-3)).to.equal(undefined);
    expect(pressesInWindow([0, 500, 1000, 1500], 1500)).to.equal(2); // (500, 1500]
  });

  it('refuses a hold shorter than minHoldMs, and NaN', function () {
    expect([29.9, 30, Number.NaN].map((h) => holdAllowed(limits, h))).to.deep.equal([false, true, false]);
  });

  it('the earliest start it gives is allowed, and anything more than one resolution step earlier (and after the wish) is not', function () {
    const history = fc.record({
      releasedAtMs: fc.option(fc.integer({ min: -2000, max: 2000 }), { nil: undefined }),
      startsMs: fc.array(fc.integer({ min: -2000, max: 2000 }), { maxLength: 8 }).map((a) => [...a].sort((x, y) => x - y)),
    });
    fc.assert(
      fc.property(history, fc.integer({ min: -2000, max: 3000 }), (h, wish) => {
        const at0 = Math.max(wish, ...h.startsMs);
        const at = earliestPressMs(limits, h, at0, 0.001);
        expect(limitConflict(limits, h, at), `at ${at}`).to.equal(undefined);
        // One step of slack at most: the rate window's far end is open (a start exactly 1 s back no
        // longer counts), and the presser and plans have always started one step after it.
        if (at - 0.0015 >= at0) expect(limitConflict(limits, h, at - 0.0015), `at ${at - 0.0015}`).to.not.equal(undefined);
      }),
    );
  });

  it('is the schema a rig file\'s limits are checked with: each a positive number', function () {
    expect(mechanicalLimitsSchema.safeParse(limits).success).to.equal(true);
    const r = mechanicalLimitsSchema.safeParse({ minHoldMs: 0, minGapMs: 40, maxPressesPerSec: '3' });
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).to.deep.equal(['minHoldMs: a positive number', 'maxPressesPerSec: a positive number']);
  });
});
