import type { FieldValue } from './observation.ts';
import { parseTelemetry } from './telemetry.ts';
import { ConfigError } from './errors.ts';

/**
 * A rig-defined decoder for free-form firmware output: a RegExp whose named groups become typed
 * fields. Example: `{ kind: 'queued', pattern: /⚡ Queued: (?<btn>\w+)/ }`.
 */
export interface RegexDecoderSpec {
  /** The observation kind a match produces. */
  kind: string;
  /** Named groups become fields. */
  pattern: RegExp;
  /** Field conversions (default: numbers that look like numbers, strings otherwise). */
  types?: Record<string, 'number' | 'string'>;
}

/** Result of decoding one line. */
export interface Decoded {
  kind: string;
  fields?: Record<string, FieldValue>;
  seq?: number;
  tDev?: number;
}

const NUMBER = /^-?\d+(?:\.\d+)?$/;

/**
 * Decodes device lines: `HIL` telemetry first, then the rig's RegExp decoders in order;
 * anything else is kind `line`. Decoding never throws on a line.
 */
export class LineDecoder {
  private readonly specs: Array<RegexDecoderSpec & { re: RegExp }>;

  constructor(specs: RegexDecoderSpec[] = []) {
    this.specs = specs.map((s, k) => {
      if (!s || typeof s.kind !== 'string' || !s.kind || /[.\s]/.test(s.kind)) {
        throw new ConfigError(`decoders[${k}].kind: expected a word without dots or spaces, found ${JSON.stringify(s?.kind)}`);
      }
      if (!(s.pattern instanceof RegExp)) {
        throw new ConfigError(`decoders[${k}].pattern: expected a RegExp, found ${typeof s.pattern}`);
      }
      // Stateful flags would make matching depend on the previous line.
      const re = s.pattern.global || s.pattern.sticky ? new RegExp(s.pattern.source, s.pattern.flags.replace(/[gy]/g, '')) : s.pattern;
      return { ...s, re };
    });
  }

  decode(line: string): Decoded {
    const t = parseTelemetry(line);
    if (t) return { kind: t.kind, fields: t.fields, seq: t.seq, tDev: t.tUs };
    for (const s of this.specs) {
      const m = s.re.exec(line);
      if (!m) continue;
      const fields: Record<string, FieldValue> = {};
      for (const [k, v] of Object.entries(m.groups ?? {})) {
        if (v === undefined) continue;
        const type = s.types?.[k];
        fields[k] = type === 'string' ? v : type === 'number' || NUMBER.test(v) ? Number(v) : v;
      }
      return { kind: s.kind, fields };
    }
    return { kind: 'line' };
  }
}
