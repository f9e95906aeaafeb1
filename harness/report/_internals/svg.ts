/** Small inline-SVG plots for report.html: no scripts, no external resources. */

export function esc(s: string | number): string {
  // CR as a reference: the HTML parser would turn a literal one into LF.
  return String(s).replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '\r': '&#13;' })[c]!);
}

/** A coordinate with at most 2 decimals. */
/** Min and max without spreading (large runs hold more values than the argument limit). */
export function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function c(n: number): string {
  return String(Math.round(n * 100) / 100);
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function label(v: number): string {
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const FRAME: Frame = { width: 640, height: 220, left: 52, right: 16, top: 12, bottom: 36 };

function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function axes(f: Frame, xs: number[], ys: number[], x: (v: number) => number, y: (v: number) => number, xTitle: string, yTitle: string): string {
  const x0 = f.left;
  const y0 = f.height - f.bottom;
  let s = `<g class="axes"><line x1="${x0}" y1="${y0}" x2="${f.width - f.right}" y2="${y0}"/><line x1="${x0}" y1="${f.top}" x2="${x0}" y2="${y0}"/>`;
  for (const v of xs) s += `<line x1="${c(x(v))}" y1="${y0}" x2="${c(x(v))}" y2="${y0 + 4}"/><text x="${c(x(v))}" y="${y0 + 15}" text-anchor="middle">${esc(label(v))}</text>`;
  for (const v of ys) s += `<line x1="${x0 - 4}" y1="${c(y(v))}" x2="${x0}" y2="${c(y(v))}"/><text x="${x0 - 6}" y="${c(y(v) + 4)}" text-anchor="end">${esc(label(v))}</text>`;
  s += `<text x="${c((x0 + f.width - f.right) / 2)}" y="${f.height - 4}" text-anchor="middle" class="title">${esc(xTitle)}</text>`;
  s += `<text transform="translate(12 ${c((f.top + y0) / 2)}) rotate(-90)" text-anchor="middle" class="title">${esc(yTitle)}</text></g>`;
  return s;
}

function open(f: Frame, plot: string, aria: string): string {
  return `<svg class="plot" data-plot="${esc(plot)}" role="img" aria-label="${esc(aria)}" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" xmlns="http://www.w3.org/2000/svg">`;
}

/** A histogram of `values` in about `bins` equal bins. Values must be finite. */
export function histogram(values: readonly number[], xTitle: string, bins = 30): string {
  const f = FRAME;
  let [lo, hi] = extent(values);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const n = Math.max(1, Math.min(bins, Math.ceil(Math.sqrt(values.length)) * 2));
  const width = (hi - lo) / n;
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor((v - lo) / width))]!++;
  const maxCount = extent(counts)[1];
  const x = scale(lo, hi, f.left, f.width - f.right);
  const y = scale(0, maxCount, f.height - f.bottom, f.top);
  let s = open(f, 'cb-histogram', `histogram of ${xTitle}, ${values.length} values`);
  s += axes(f, ticks(lo, hi), ticks(0, maxCount, 4).filter((v) => Number.isInteger(v)), x, y, xTitle, 'count');
  counts.forEach((k, b) => {
    if (k === 0) return;
    const a = lo + b * width;
    s += `<rect class="bar" x="${c(x(a) + 0.5)}" y="${c(y(k))}" width="${c(Math.max(1, x(a + width) - x(a) - 1))}" height="${c(y(0) - y(k))}"><title>${esc(`${label(a)}–${label(a + width)}: ${k}`)}</title></rect>`;
  });
  return s + '</svg>';
}

export interface DepthPoint {
  /** ms since the run's start. */
  x: number;
  depth: number;
  dropped: boolean;
}

/** Queue depth after each put over host time, with the capacity when known and drops marked. */
export function depthPlot(points: readonly DepthPoint[], capacity: number | undefined, name: string): string {
  const f = FRAME;
  const pts = [...points].sort((a, b) => a.x - b.x);
  let x0 = pts[0]!.x;
  let x1 = pts[pts.length - 1]!.x;
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  const yMax = Math.max(1, capacity ?? 0, extent(pts.map((p) => p.depth))[1]);
  const x = scale(x0, x1, f.left, f.width - f.right);
  const y = scale(0, yMax, f.height - f.bottom, f.top);
  let s = open(f, 'queue-depth', `queue depth over time, ${name}`);
  s += axes(f, ticks(x0, x1), ticks(0, yMax, 4).filter((v) => Number.isInteger(v)), x, y, 'host time since run start (ms)', 'depth after put');
  if (capacity !== undefined) s += `<line class="capacity" x1="${f.left}" x2="${f.width - f.right}" y1="${c(y(capacity))}" y2="${c(y(capacity))}"><title>capacity ${capacity}</title></line>`;
  s += `<polyline class="depth" points="${pts.map((p) => `${c(x(p.x))},${c(y(p.depth))}`).join(' ')}"/>`;
  for (const p of pts) {
    if (p.dropped) s += `<path class="drop" d="M${c(x(p.x) - 4)} ${c(y(p.depth) - 4)}l8 8m0 -8l-8 8"><title>${esc(`dropped at ${p.x.toFixed(3)} ms`)}</title></path>`;
  }
  return s + '</svg>';
}

export interface TimelineRow {
  label: string;
  outcome: string;
  /** ms since the run's start; any may be unknown. */
  press?: number;
  edge?: number;
  queued?: number;
  done?: number;
}

const MARKS = ['press', 'edge', 'queued', 'done'] as const;

/** One row per press: a bar from press to the last known mark, and a mark at each known time. */
export function timeline(rows: readonly TimelineRow[], name: string): string {
  const rowH = 14;
  const times = rows.flatMap((r) => MARKS.map((m) => r[m]).filter((v): v is number => v !== undefined));
  // Times count from the first mark; a single instant gets a ±1 ms window around it.
  const [t0, last] = extent(times);
  const span = last > t0 ? last - t0 : 1;
  const lo = last > t0 ? 0 : -1;
  // Room for the longest label at the 10 px font (about 6.5 px a character): labels were clipped.
  const left = Math.max(90, 12 + Math.ceil(6.5 * Math.max(...rows.map((r) => r.label.length))));
  const f: Frame = { ...FRAME, width: FRAME.width + left - 90, left, height: FRAME.top + FRAME.bottom + rowH * rows.length };
  const x = scale(lo, span, f.left, f.width - f.right);
  let s = open(f, 'press-timeline', `press to processed timeline, ${name}, ${rows.length} presses`);
  s += axes(f, ticks(lo, span), [], x, () => 0, `ms since the first mark (${t0.toFixed(3)} ms into the run)`, '');
  rows.forEach((r, k) => {
    const yc = f.top + rowH * k + rowH / 2;
    const known = MARKS.filter((m) => r[m] !== undefined);
    s += `<g class="press-row outcome-${esc(r.outcome)}"><text x="${f.left - 6}" y="${c(yc + 4)}" text-anchor="end">${esc(r.label)}</text>`;
    if (known.length >= 2) {
      const a = r[known[0]!]! - t0;
      const b = r[known[known.length - 1]!]! - t0;
      s += `<line class="span" x1="${c(x(a))}" x2="${c(x(b))}" y1="${c(yc)}" y2="${c(yc)}"/>`;
    }
    for (const m of known) {
      const v = r[m]! - t0;
      s += `<circle class="mark mark-${m}" cx="${c(x(v))}" cy="${c(yc)}" r="3.5"><title>${esc(`${r.label} ${m} +${v.toFixed(3)} ms (${r.outcome})`)}</title></circle>`;
    }
    s += '</g>';
  });
  return s + '</svg>';
}
