import { expect } from 'chai';
import fc from 'fast-check';
import { describeJudgement, judgePercentile, samplesNeeded } from '../../../harness/core/invariants/stats.ts';
import { mulberry32 } from '../../../harness/sim/prng.ts';

/** P(Bin(n, q) ≤ j) the slow, obvious way (exact for the small n used here). */
function cdf(n: number, q: number, j: number): number {
  let s = 0;
  for (let k = 0; k <= j; k++) {
    let c = 1;
    for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
    s += c * q ** k * (1 - q) ** (n - k);
  }
  return s;
}

/** The sim's own seeded generator, so the calibration test is the same every run. */
const rng = mulberry32;

const asc = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

describe('core/invariants/stats: percentile limits as claims about a distribution', function () {
  it('needs ln(1 − c) / ln(q) samples before a percentile can be shown within its limit', function () {
    expect(samplesNeeded(95, 0.95)).to.equal(59);
    expect(samplesNeeded(99, 0.95)).to.equal(299);
    expect(samplesNeeded(50, 0.95)).to.equal(5);
    expect(samplesNeeded(95, 0.99)).to.equal(90);
  });

  it('a p95 of three samples is neither PASS nor FAIL on one slow sample: it says how many are needed', function () {
    const j = judgePercentile([300, 310, 25_531], 95, 1000, 0.95);
    expect(j.standing).to.equal('insufficient');
    expect(j.estimate).to.equal(25_531); // the nearest-rank p95 of three is their maximum
    expect(describeJudgement(j, 'edge to callback end', 'µs')).to.match(/not enough samples \(3 of 59 needed\)/);
  });

  it('three samples do show a p95 beyond its limit when two of them are over it', function () {
    // If the true p95 were within, two of three over it would happen with probability < 1 %.
    expect(judgePercentile([2000, 2500, 3000], 95, 1000, 0.95).standing).to.equal('beyond');
    expect(judgePercentile([200, 2500, 3000], 95, 1000, 0.95).standing).to.equal('beyond');
    expect(judgePercentile([200, 250, 3000], 95, 1000, 0.95).standing).to.equal('insufficient');
  });

  it('the bounds are the order statistics the binomial distribution picks, checked against a direct sum', function () {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.constantFrom(50, 90, 95, 99), fc.constantFrom(0.9, 0.95, 0.99), (n, p, c) => {
        const xs = Array.from({ length: n }, (_, k) => k + 1); // x(k) = k
        const j = judgePercentile(xs, p, 1e9, c);
        const q = p / 100;
        let hi: number | undefined;
        for (let k = 1; k <= n && hi === undefined; k++) if (cdf(n, q, k - 1) >= c - 1e-12) hi = k;
        let lo: number | undefined;
        for (let k = n; k >= 1 && lo === undefined; k--) if (1 - cdf(n, q, k - 1) >= c - 1e-12) lo = k;
        expect(j.hi, 'upper bound').to.equal(hi);
        expect(j.lo, 'lower bound').to.equal(lo);
      }),
      { numRuns: 200 },
    );
  });

  it('stays exact and fast over a pooled run of 50,000 samples', function () {
    const r = rng(7);
    const xs = asc(Array.from({ length: 50_000 }, () => 20 + r() * 60)); // uniform 20–80 µs: p99 = 79.4
    const t0 = performance.now();
    const j = judgePercentile(xs, 99, 80, 0.95);
    expect(performance.now() - t0).to.be.lessThan(500);
    expect(j.standing).to.equal('within');
    expect(j.lo).to.be.within(79, 79.5);
    expect(j.hi).to.be.within(79.3, 79.7);
    expect(judgePercentile(xs, 99, 79, 0.95).standing).to.equal('beyond');
  });

  it('is calibrated: with the true percentile exactly at the limit, it FAILs and PASSes at most 1 − c of the time', function () {
    // Exponential latencies with their true p95 at the limit: every "beyond" is a false FAIL and
    // every "within" a false PASS; each must stay at or below 5 % (one-sided, 95 %).
    const r = rng(42);
    const limit = 1000;
    const scale = limit / -Math.log(0.05); // P(X > limit) = 5 %
    for (const n of [3, 20, 59, 200]) {
      let beyond = 0;
      let within = 0;
      const trials = 2000;
      for (let t = 0; t < trials; t++) {
        const xs = asc(Array.from({ length: n }, () => -scale * Math.log(1 - r())));
        const s = judgePercentile(xs, 95, limit, 0.95).standing;
        if (s === 'beyond') beyond++;
        if (s === 'within') within++;
      }
      expect(beyond / trials, `false FAIL rate over ${n} samples`).to.be.at.most(0.065);
      expect(within / trials, `false PASS rate over ${n} samples`).to.be.at.most(0.065);
    }
  });

  it('has the power to tell: a p95 well within or well beyond is decided once there are enough samples', function () {
    const r = rng(3);
    const fast = asc(Array.from({ length: 200 }, () => 30 + r() * 40));
    expect(judgePercentile(fast, 95, 1000, 0.95).standing).to.equal('within');
    const slow = asc(Array.from({ length: 200 }, (_, k) => (k % 10 === 0 ? 5100 : 40))); // one in ten slow
    expect(judgePercentile(slow, 95, 2000, 0.95).standing).to.equal('beyond');
  });
});
