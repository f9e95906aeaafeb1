/** Cell formatting shared by the report writers: fixed decimals, empty for unknown. */

/** A number with `decimals` fixed decimals; empty for undefined, NaN or ±Infinity. */
export function fixed(n: number | undefined, decimals: number): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  const s = n.toFixed(decimals);
  // -0.0004 rounds to "-0.000": a sign on a zero only confuses diffs between runs.
  return /^-0(?:\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** A count or a device time: integers as they are, anything fractional with 3 decimals. */
export function integer(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  return Number.isInteger(n) ? String(n) : fixed(n, 3);
}

/** Host ns → ms since `startNs`, 3 decimals (µs resolution). */
export function hostMs(t: bigint | undefined, startNs: bigint): string {
  if (t === undefined) return '';
  return fixed(Number(t - startNs) / 1e6, 3);
}

/** Free text: empty for undefined. */
export function text(s: string | number | undefined): string {
  return s === undefined ? '' : String(s);
}

/** `a − b` when both are known numbers. */
export function diff(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

/** `(a − b)` in ms when both host times are known. */
export function diffNsToMs(a: bigint | undefined, b: bigint | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : Number(a - b) / 1e6;
}

/**
 * A time in ms that rests on the clock mapping (a device time placed on the host clock, or a span
 * from a host time to one), with no more digits than the mapping's error bound `errUs` supports:
 * 3 decimals (µs) when the bound is ≤ 1 µs, 2 when ≤ 10 µs, 1 when ≤ 100 µs, whole ms when ≤ 1 ms,
 * and empty when the bound is over 1 ms (a whole ms would still claim more than the mapping
 * knows). An unknown bound claims nothing: empty.
 */
export function withinBound(ms: number | undefined, errUs: number | undefined): string {
  if (ms === undefined || errUs === undefined || !Number.isFinite(errUs) || errUs > 1000) return '';
  return fixed(ms, errUs <= 1 ? 3 : errUs <= 10 ? 2 : errUs <= 100 ? 1 : 0);
}

/** A device time placed on the host clock, as ms since `startNs`, digits as {@link withinBound}. */
export function hostMappedMs(t: bigint | undefined, startNs: bigint, errUs: number | undefined): string {
  return withinBound(t === undefined ? undefined : Number(t - startNs) / 1e6, errUs);
}
