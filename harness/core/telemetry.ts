import type { FieldValue } from './observation.ts';

/** A decoded `HIL <seq> <t_us> <kind> key=value …` line (docs/telemetry.md). */
export interface TelemetryLine {
  seq: number;
  tUs: number;
  kind: string;
  fields: Record<string, FieldValue>;
}

const NUMERIC = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Longest token (kind, key, value) kept in {@link TOKENS}. */
const TOKEN_MAX = 24;
const TOKEN_SLOTS = 512;
/**
 * The short tokens seen last, by a hash of their text: a firmware prints the same few kinds, keys
 * and values on every line, and a line's token found here is that string again rather than a new
 * one (kinds and values are kept in the log's window of observations, and keys would be looked up
 * in V8's string table). Only a cache of immutable strings: a token returned is always equal to
 * the line's text, whatever is in it.
 */
const TOKENS: Array<string | undefined> = new Array<string | undefined>(TOKEN_SLOTS);

/** `line.slice(start, end)`, the cached string when it is one (`hash`: {@link mix} over its chars). */
function token(line: string, start: number, end: number, hash: number): string {
  const len = end - start;
  if (len > TOKEN_MAX) return line.slice(start, end);
  const slot = (hash ^ len) & (TOKEN_SLOTS - 1);
  const hit = TOKENS[slot];
  if (hit !== undefined && hit.length === len && line.startsWith(hit, start)) return hit;
  const s = line.slice(start, end);
  TOKENS[slot] = s;
  return s;
}

function mix(h: number, c: number): number {
  return (Math.imul(h, 31) + c) | 0;
}

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
  let h = 0;
  for (let c: number; p < n && (c = line.charCodeAt(p)) !== 32; p++) h = mix(h, c);
  if (p === start) return undefined;
  const kind = token(line, start, p, h);
  const fields: Record<string, FieldValue> = {};
  while (p < n) {
    while (p < n && line.charCodeAt(p) === 32) p++;
    if (p >= n) break;
    const keyStart = p;
    let kh = 0;
    for (let c: number; p < n && (c = line.charCodeAt(p)) !== 61 && c !== 32; p++) kh = mix(kh, c);
    const key = token(line, keyStart, p, kh);
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
      let vh = neg ? 45 : 0;
      while (p < n) {
        const c = line.charCodeAt(p);
        if (c === 32) break;
        if (c >= 48 && c <= 57) {
          int = int * 10 + (c - 48);
          digits++;
        } else other = true;
        vh = mix(vh, c);
        p++;
      }
      if (!other && digits > 0 && digits < 16) fields[key] = neg ? -int : int;
      else {
        const raw = token(line, vStart, p, vh);
        fields[key] = raw.length > 0 && raw.length < 24 && NUMERIC.test(raw) ? Number(raw) : raw;
      }
    }
  }
  return { seq, tUs, kind, fields };
}
