/**
 * Host↔device clock mapping by a lower-envelope fit.
 *
 * Each timestamped device line gives a point (x = device time, y = host arrival time), both in
 * µs. Arrival is always *after* the device printed the line (transmission delay is never
 * negative), so the true mapping `y = a + b·x` (plus the minimal link delay) lies on or below
 * every point. The fit is the line below all points that is closest to them in total: a
 * supporting line of the lower convex hull, taken at the mean x (the optimum of that linear
 * program). Kept incrementally: O(1) amortised per point, memory bounded by the hull and one
 * bucket per second of device time.
 */
export interface ClockFitOptions {
  /** Largest plausible rate error between the clocks, ppm. A steeper hull edge is clamped. Default 500. */
  maxDriftPpm?: number;
  /** Bucket width for the error estimate, µs of device time. Default 1,000,000 (1 s). */
  bucketUs?: number;
}

/** A fitted mapping. `host = offsetUs + slope·(device − x0)` in µs, where x0 is the first device time seen. */
export interface ClockMapping {
  /** Host µs at device time x0. */
  offsetUs: number;
  /** Host µs per device µs (1/(1+drift)). */
  slope: number;
  /** Device clock rate error relative to the host, ppm (positive: the device clock runs fast). */
  driftPpm: number;
  /** Device time the mapping is anchored at. */
  x0: number;
  /**
   * Half-width (µs) of the band the mapping is known to within: how far above the fitted
   * envelope the lowest point of each 1 s window lies (95th percentile over the last 600 windows). Small
   * when the link delay is steady, large when the host was busy or the link is slow.
   */
  errorBoundUs: number;
  /**
   * How far off `driftPpm` may be, ppm: the slope is a chord between two envelope points, each of
   * which may sit up to about `errorBoundUs` above the true floor, over the chord's span. Large
   * over a short baseline on a jittery link: a drift can only be judged where this is small.
   */
  driftErrPpm: number;
  /**
   * How far above the fitted envelope the recent lines arrived: the median of their delays beyond
   * the fastest, over the last 1024 points, µs. The envelope is the fastest lines, and they too
   * were late by the link's own floor (the host waking to read, the device's driver), which
   * arrival times alone cannot show. Unless something says what the floor is (a declared link
   * delay), it is taken to be no larger than the typical line's delay beyond the fastest: both
   * come from the same scheduling. On the sim, under five agents' load, the floor was 0.4–1 ms and
   * this 0.8–1.6 ms (bench/clock-accuracy.bench.ts).
   */
  linkSpreadUs: number;
  /** The drift the chord shows before `maxDriftPpm` clamps it (the mapping uses the clamped one), ppm. */
  driftMeasuredPpm: number;
  /** Points used. */
  points: number;
}

interface P {
  x: number;
  y: number;
}

/** The fitted line: `y = a + slope·x` (x, y relative to the first point), and the chord it came from. */
interface Line {
  slope: number;
  a: number;
  /** The chord's slope before the clamp. */
  measured: number;
  chordUs: number;
}

/** Buckets (seconds, by default) the error bound is estimated over: the last ten minutes. */
const MAX_BUCKETS = 600;
/** Recent points the link's spread is estimated over. */
const SPREAD_POINTS = 1024;

export class ClockFit {
  private readonly maxDrift: number;
  private readonly bucketUs: number;
  private x0 = NaN;
  private y0 = NaN;
  private hull: P[] = [];
  private n = 0;
  private lastX = -Infinity;
  /**
   * Per bucket: the point with the least y − x (the best candidate for the envelope there). Only
   * the newest {@link MAX_BUCKETS} are kept: the error bound describes the link as it is now, and a
   * night-long run must not make every mapping sort hours of buckets.
   */
  private buckets = new Map<number, P>();
  /** The last {@link SPREAD_POINTS} points, a ring. */
  private readonly recent: P[] = [];
  /** The recent points' and the buckets' heights over the fitted line, kept sorted between points. */
  private readonly recentHeights = new Heights();
  private readonly bucketHeights = new Heights();
  /** The fitted line as of `lineAt` points: unchanged until the next point (one object, refitted in place: a line a point was garbage on every line read). */
  private readonly line: Line = { slope: NaN, a: NaN, measured: NaN, chordUs: 0 };
  private lineAt = -1;
  /** The whole mapping (the line and its bounds) as of `cachedAt` points. */
  private cached: ClockMapping | undefined;
  private cachedAt = -1;

  constructor(options: ClockFitOptions = {}) {
    this.maxDrift = (options.maxDriftPpm ?? 500) * 1e-6;
    this.bucketUs = options.bucketUs ?? 1_000_000;
  }

  get points(): number {
    return this.n;
  }

  /** Device time from the first point to the newest, µs (0 before two points). */
  get spanUs(): number {
    return this.n === 0 ? 0 : this.lastX - this.x0;
  }

  /**
   * Add a point: device time (µs) and host arrival time (µs). Device times must not go back
   * (a reboot starts a new fit); returns false and ignores the point if they do.
   */
  add(deviceUs: number, hostUs: number): boolean {
    if (deviceUs < this.lastX) return false;
    if (this.n === 0) {
      this.x0 = deviceUs;
      this.y0 = hostUs;
    }
    this.lastX = deviceUs;
    const p = { x: deviceUs - this.x0, y: hostUs - this.y0 };
    const gone = this.recent[this.n % SPREAD_POINTS];
    if (gone) this.recentHeights.remove(gone);
    this.recent[this.n % SPREAD_POINTS] = p;
    this.recentHeights.add(p);
    this.n++;
    const h = this.hull;
    // Same device time: only the earliest arrival matters.
    const last = h[h.length - 1];
    if (last && last.x === p.x) {
      if (p.y >= last.y) {
        this.bucket(p);
        return true;
      }
      h.pop();
    }
    while (h.length >= 2 && cross(h[h.length - 2]!, h[h.length - 1]!, p) <= 0) h.pop();
    h.push(p);
    this.bucket(p);
    return true;
  }

  private bucket(p: P): void {
    const k = Math.floor(p.x / this.bucketUs);
    const b = this.buckets.get(k);
    if (!b) {
      this.buckets.set(k, p);
      this.bucketHeights.add(p);
      // Device time only goes forward, so the Map's first key is the oldest bucket.
      if (this.buckets.size > MAX_BUCKETS) {
        const oldest = this.buckets.keys().next().value!;
        this.bucketHeights.remove(this.buckets.get(oldest)!);
        this.buckets.delete(oldest);
      }
    } else if (p.y - p.x < b.y - b.x) {
      this.bucketHeights.remove(b);
      this.buckets.set(k, p);
      this.bucketHeights.add(p);
    }
  }

  /** The current mapping, or undefined before the first point. */
  mapping(): ClockMapping | undefined {
    if (this.n === 0) return undefined;
    if (this.cachedAt === this.n) return this.cached;
    this.cached = this.compute(this.fitted());
    this.cachedAt = this.n;
    return this.cached;
  }

  /**
   * Host µs for device µs under the current mapping (`toHostUs(mapping(), deviceUs)`, the same
   * number), without its bounds: the invariants place every timestamped line, and the bounds (two
   * quantiles over a thousand points) are only wanted in a report. Undefined before the first point.
   */
  hostUs(deviceUs: number): number | undefined {
    if (this.n === 0) return undefined;
    const l = this.fitted();
    return this.y0 + l.a + l.slope * (deviceUs - this.x0);
  }

  /** The line, recomputed only when a point has come since (every point moves the hull's end). */
  private fitted(): Line {
    if (this.lineAt !== this.n) {
      this.fitLine(this.line);
      this.lineAt = this.n;
    }
    return this.line;
  }

  private fitLine(line: Line): void {
    const h = this.hull;
    // The slope is the chord between the envelope's vertices nearest a quarter and three quarters
    // of the way through the data: each is a line that arrived about as fast as any, so the chord's
    // error is the difference of two small delays over half the baseline. The envelope edge under
    // the mean (the fit's exact optimum) can be a short edge between two batches, and over a few
    // seconds of a console read in 10 ms batches by a busy host its slope read 500 ppm (the clamp)
    // for a 30 ppm crystal.
    let measured = 1;
    let chordUs = 0;
    if (h.length >= 2) {
      const x0 = h[0]!.x;
      const span = h[h.length - 1]!.x - x0;
      let i = nearest(h, x0 + span / 4);
      let j = nearest(h, x0 + (3 * span) / 4);
      if (i === j) {
        i = 0;
        j = h.length - 1;
      }
      chordUs = h[j]!.x - h[i]!.x;
      measured = (h[j]!.y - h[i]!.y) / chordUs;
    }
    const slope = clamp(measured, 1 - this.maxDrift, 1 + this.maxDrift);
    line.slope = slope;
    // The highest intercept that keeps the line below every hull point (so below every point).
    line.a = this.intercept(slope);
    line.measured = measured;
    line.chordUs = chordUs;
  }

  private compute({ slope, a, measured, chordUs }: Line): ClockMapping {
    const err = this.bandUs(slope, a);
    // The drift's own bound is judged against the chord's line: against a clamped one, a clock
    // that really is far off would look like a noisy link. (Rare: the clamp is for a broken clock,
    // so this one is computed from scratch rather than kept.)
    const errMeasured = measured === slope ? err : bandOf([...this.buckets.values()], measured, this.intercept(measured));
    return {
      offsetUs: this.y0 + a,
      slope,
      driftPpm: (1 / slope - 1) * 1e6,
      x0: this.x0,
      errorBoundUs: Math.max(0, err),
      linkSpreadUs: this.spreadUs(slope, a),
      driftMeasuredPpm: (1 / measured - 1) * 1e6,
      driftErrPpm: chordUs > 0 ? (errMeasured / chordUs) * 1e6 : Infinity,
      points: this.n,
    };
  }

  /** The highest intercept at which a line of `slope` stays below every hull point. */
  private intercept(slope: number): number {
    let a = Infinity;
    for (const p of this.hull) a = Math.min(a, p.y - slope * p.x);
    return a;
  }

  /** How far above the line `a + slope·x` the recent points lie: the median, µs. */
  private spreadUs(slope: number, a: number): number {
    return above(this.recentHeights.sorted(slope, this.recent), 0.5, a);
  }

  /** How far above the line `a + slope·x` each second's lowest point lies: the 95th percentile, µs. */
  private bandUs(slope: number, a: number): number {
    return above(this.bucketHeights.sorted(slope, this.buckets.values()), 0.95, a);
  }
}

/** {@link ClockFit}'s band, computed from scratch: the 95th percentile of the points' heights over `a + slope·x`. */
function bandOf(points: readonly P[], slope: number, a: number): number {
  return above(points.map((p) => p.y - slope * p.x).sort((u, v) => u - v), 0.95, a);
}

/** How far the `q` quantile (index ⌊n·q⌋) of ascending heights lies above intercept `a`, µs; 0 when below it or when there are none. */
function above(sorted: readonly number[], q: number, a: number): number {
  return sorted.length > 0 ? Math.max(0, sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! - a) : 0;
}

/**
 * The heights `y − slope·x` of a changing set of points, sorted (an intercept shifts them all
 * alike, so a quantile above any line of that slope is one subtraction away). Sorting a thousand
 * heights for every mapping asked for was most of what a line cost the harness; the slope moves
 * far less often than points arrive, so the sorted list is kept through each add and remove while
 * it stays, and rebuilt only when it moves. Nobody may ask for a while (the bounds are for
 * reports; the invariants place lines without them): after more unread adds than the list holds,
 * it is let go, and rebuilt when next asked for, so keeping it never costs more than rebuilding it.
 */
class Heights {
  /** The slope the list is sorted for; NaN: no list (rebuilt on the next {@link sorted}). */
  private slope = NaN;
  private readonly list: number[] = [];
  /** Adds since the list was last read. */
  private unread = 0;

  add(p: P): void {
    if (Number.isNaN(this.slope)) return;
    if (++this.unread > Math.max(64, this.list.length)) {
      this.slope = NaN;
      this.list.length = 0;
      return;
    }
    const v = p.y - this.slope * p.x;
    this.list.splice(lowerBound(this.list, v), 0, v);
  }

  remove(p: P): void {
    if (Number.isNaN(this.slope)) return;
    const v = p.y - this.slope * p.x;
    const i = lowerBound(this.list, v);
    if (this.list[i] === v) this.list.splice(i, 1);
  }

  /** The heights over lines of `slope`, ascending; `points` is the whole set, used when the slope has moved. */
  sorted(slope: number, points: Iterable<P>): readonly number[] {
    this.unread = 0;
    if (slope !== this.slope) {
      this.slope = slope;
      this.list.length = 0;
      for (const p of points) this.list.push(p.y - slope * p.x);
      this.list.sort((u, v) => u - v);
    }
    return this.list;
  }
}

/** The first index of the ascending `xs` whose value is not below `v`. */
function lowerBound(xs: readonly number[], v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Host µs for a device µs under a mapping. */
export function toHostUs(m: ClockMapping, deviceUs: number): number {
  return m.offsetUs + m.slope * (deviceUs - m.x0);
}

/** The index of the hull vertex nearest device time `x`. */
function nearest(h: readonly P[], x: number): number {
  let best = 0;
  for (let k = 1; k < h.length; k++) if (Math.abs(h[k]!.x - x) < Math.abs(h[best]!.x - x)) best = k;
  return best;
}

function cross(o: P, a: P, b: P): number {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
