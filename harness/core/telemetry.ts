import type { FieldValue } from './observation.ts';

/** A decoded `HIL <seq> <t_us> <kind> key=value …` line (docs/telemetry.md). */
export interface TelemetryLine {
  seq: number;
  tUs: number;
  kind: string;
  fields: Record<string, FieldValue>;
}

const NUMERIC = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Parse a telemetry line. Returns undefined when the line is not one (so the caller can try
 * free-form decoders). Anything before `HIL ` is ignored. Unknown kinds and keys are kept.
 * Hand-written rather than a RegExp: it runs on every line of every device.
 */
export function parseTelemetry(line: string): TelemetryLine | undefined {
  let p = line.startsWith('HIL ') ? 0 : line.indexOf('HIL ');
  if (p < 0) return undefined;
  p += 4;
  const n = line.length;
  // seq
  let seq = 0;
  let start = p;
  while (p < n) {
    const c = line.charCodeAt(p);
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
    p++;
  }
  if (p === start || line.charCodeAt(p) !== 32) return undefined;
  p++;
  // t_us (may exceed 2^31; a double holds µs exactly for 285 years)
  let tUs = 0;
  start = p;
  while (p < n) {
    const c = line.charCodeAt(p);
    if (c < 48 || c > 57) break;
    tUs = tUs * 10 + (c - 48);
    p++;
  }
  if (p === start || line.charCodeAt(p) !== 32) return undefined;
  p++;
  start = p;
  while (p < n && line.charCodeAt(p) !== 32) p++;
  if (p === start) return undefined;
  const kind = line.slice(start, p);
  const fields: Record<string, FieldValue> = {};
  while (p < n) {
    while (p < n && line.charCodeAt(p) === 32) p++;
    if (p >= n) break;
    const keyStart = p;
    while (p < n && line.charCodeAt(p) !== 61 && line.charCodeAt(p) !== 32) p++;
    const key = line.slice(keyStart, p);
    if (p >= n || line.charCodeAt(p) !== 61) {
      // A bare word: keep it as a flag rather than dropping it.
      if (key) fields[key] = '';
      continue;
    }
    p++; // '='
    if (line.charCodeAt(p) === 34) {
      p++;
      let v = '';
      let seg = p;
      while (p < n) {
        const c = line.charCodeAt(p);
        if (c === 92 && p + 1 < n) {
          v += line.slice(seg, p) + line[p + 1];
          p += 2;
          seg = p;
        } else if (c === 34) break;
        else p++;
      }
      v += line.slice(seg, p);
      p++; // closing quote (or end)
      fields[key] = v;
    } else {
      // Integers are computed while scanning (most values are); anything else is sliced.
      const vStart = p;
      let neg = false;
      if (line.charCodeAt(p) === 45) {
        neg = true;
        p++;
      }
      let int = 0;
      let digits = 0;
      let other = false;
      while (p < n) {
        const c = line.charCodeAt(p);
        if (c === 32) break;
        if (c >= 48 && c <= 57) {
          int = int * 10 + (c - 48);
          digits++;
        } else other = true;
        p++;
      }
      if (!other && digits > 0 && digits < 16) fields[key] = neg ? -int : int;
      else {
        const raw = line.slice(vStart, p);
        fields[key] = raw.length > 0 && raw.length < 24 && NUMERIC.test(raw) ? Number(raw) : raw;
      }
    }
  }
  return { seq, tUs, kind, fields };
}
