/**
 * Percentile limits judged as claims about a distribution, not about the handful of samples one
 * test happened to take.
 *
 * A limit "p95 ≤ 1000 µs" says that 95 % of all callbacks the firmware will ever run finish within
 * 1000 µs. A test sees n of them. The order statistics of a sample bound the true percentile
 * without any assumption about the distribution's shape: if ξ is the true q-quantile, the number of
 * samples at or below ξ is Binomial(n, q), so
 *
 * - the k-th smallest sample x(k) lies at or above ξ with probability P(Bin(n, q) ≤ k − 1): the
 *   smallest k for which that reaches the confidence c gives an upper bound `hi` = x(k);
 * - x(k) lies at or below ξ with probability P(Bin(n, q) ≥ k): the largest k for which that reaches
 *   c gives a lower bound `lo` = x(k).
 *
 * The limit is met when `hi` ≤ limit (PASS: the samples show it, at confidence c), broken when
 * `lo` > limit (FAIL: the samples show it), and otherwise the samples cannot tell: with all n samples
 * within the limit an upper bound needs n ≥ ln(1 − c) / ln(q) samples at all (59 for a p95 at 95 %,
 * 299 for a p99), so three presses neither pass nor fail a p95. A p95 of 3 samples is their maximum;
 * judging that would fail healthy firmware on one host hiccup and pass a slow one on three lucky
 * presses.
 */

/** How a percentile limit stands over a sample. */
export type PercentileStanding = 'within' | 'beyond' | 'insufficient';

export interface PercentileJudgement {
  /** The percentile, 0–100 (50, 95, 99). */
  p: number;
  /** Samples judged. */
  n: number;
  /** Nearest-rank estimate of the percentile (undefined without samples). */
  estimate: number | undefined;
  /** One-sided lower confidence bound at `confidence` (undefined: the sample bounds nothing below). */
  lo: number | undefined;
  /** One-sided upper confidence bound at `confidence` (undefined: no sample is high enough to bound it). */
  hi: number | undefined;
  limit: number;
  confidence: number;
  standing: PercentileStanding;
  /**
   * Samples needed before this percentile can be shown within its limit at all (all of them within
   * it): the "n of N needed" a reader is told when the standing is `insufficient`.
   */
  needed: number;
}

/** Samples needed for an upper bound on the q-quantile at confidence c: ⌈ln(1 − c) / ln q⌉. */
export function samplesNeeded(p: number, confidence: number): number {
  const q = p / 100;
  if (q >= 1) return Number.POSITIVE_INFINITY;
  if (q <= 0) return 1;
  return Math.max(1, Math.ceil(Math.log(1 - confidence) / Math.log(q) - 1e-9));
}

/**
 * P(Bin(n, q) ≤ j) for j = 0 … n − 1, in log space so that large pooled samples (tens of thousands
 * of callbacks over a run) neither underflow nor lose precision.
 */
function binomialCdf(n: number, q: number): Float64Array {
  const cdf = new Float64Array(n + 1);
  if (q <= 0) return cdf.fill(1);
  if (q >= 1) {
    cdf[n] = 1;
    return cdf;
  }
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  let logPmf = n * l1q; // k = 0
  let logSum = logPmf;
  cdf[0] = Math.exp(logSum);
  for (let k = 0; k < n; k++) {
    logPmf += Math.log((n - k) / (k + 1)) + lq - l1q;
    const m = Math.max(logSum, logPmf);
    logSum = m + Math.log(Math.exp(logSum - m) + Math.exp(logPmf - m));
    cdf[k + 1] = Math.min(1, Math.exp(logSum));
  }
  return cdf;
}

/** Nearest-rank percentile of an ascending array. */
export function nearestRank(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Judge "the p-th percentile is at most `limit`" over `sorted` (ascending) at `confidence`
 * (one-sided, e.g. 0.95). See the file comment.
 */
export function judgePercentile(sorted: readonly number[], p: number, limit: number, confidence: number): PercentileJudgement {
  const n = sorted.length;
  const q = p / 100;
  const base = { p, n, estimate: nearestRank(sorted, p), limit, confidence, needed: samplesNeeded(p, confidence) };
  if (n === 0) return { ...base, lo: undefined, hi: undefined, standing: 'insufficient' };
  const cdf = binomialCdf(n, q);
  // Upper: smallest k (1-based) with P(Bin ≤ k − 1) ≥ c.
  let hi: number | undefined;
  for (let k = 1; k <= n; k++) {
    if (cdf[k - 1]! >= confidence) {
      hi = sorted[k - 1];
      break;
    }
  }
  // Lower: largest k with P(Bin ≥ k) = 1 − P(Bin ≤ k − 1) ≥ c.
  let lo: number | undefined;
  for (let k = n; k >= 1; k--) {
    if (1 - cdf[k - 1]! >= confidence) {
      lo = sorted[k - 1];
      break;
    }
  }
  const standing: PercentileStanding = lo !== undefined && lo > limit ? 'beyond' : hi !== undefined && hi <= limit ? 'within' : 'insufficient';
  return { ...base, lo, hi, standing };
}

/** A judgement in words: "p95 412 µs (95 % bounds 380–455 µs) over 120 samples, limit 1000 µs: within". */
export function describeJudgement(j: PercentileJudgement, what: string, unit: string): string {
  const f = (x: number | undefined): string => (x === undefined ? '?' : String(+x.toFixed(3)));
  const conf = `${+(j.confidence * 100).toFixed(1)} %`;
  const head = `${what} p${j.p}`;
  if (j.n === 0) return `${head}: no samples (limit ${j.limit} ${unit})`;
  const bounds = `bounds ${j.lo === undefined ? '−' : f(j.lo)}–${j.hi === undefined ? '∞' : f(j.hi)} ${unit} at ${conf}`;
  const body = `${head} ${f(j.estimate)} ${unit} over ${j.n} samples (${bounds}), limit ${j.limit} ${unit}`;
  if (j.standing === 'within') return `${body}: within`;
  if (j.standing === 'beyond') return `${body}: beyond the limit`;
  return j.n < j.needed ? `${body}: not enough samples (${j.n} of ${j.needed} needed)` : `${body}: the samples cannot tell (the limit lies within the bounds)`;
}
