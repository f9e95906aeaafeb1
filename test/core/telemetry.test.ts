import { expect } from 'chai';
import { parseTelemetry } from '../../harness/core/telemetry.ts';
import { LineDecoder } from '../../harness/core/decoders.ts';
import { formatHil } from '../../harness/sim/device-clock.ts';
import fc from 'fast-check';

describe('telemetry lines', function () {
  it('parses seq, device time, kind and typed fields in any order', function () {
    expect(parseTelemetry('HIL 43 18233440 q_put btn=PRESSURE_UP depth=1 cap=100')).to.deep.equal({
      seq: 43,
      tUs: 18233440,
      kind: 'q_put',
      fields: { btn: 'PRESSURE_UP', depth: 1, cap: 100 },
    });
    expect(parseTelemetry('HIL 1 5 hb processed=7 thread=irq depth=0')!.fields).to.deep.equal({ processed: 7, thread: 'irq', depth: 0 });
  });

  it('handles quoted values with escapes, negatives, decimals and bare words', function () {
    const t = parseTelemetry('HIL 2 99 warn msg="reactor \\"not\\" started" x=-5 p=105.5 v=3.3.1 flag')!;
    expect(t.fields).to.deep.equal({ msg: 'reactor "not" started', x: -5, p: 105.5, v: '3.3.1', flag: '' });
  });

  it('keeps unknown kinds and ignores a prefix before HIL', function () {
    const t = parseTelemetry('[INFO] HIL 7 123 my_new_kind foo=bar')!;
    expect(t.kind).to.equal('my_new_kind');
    expect(t.fields).to.deep.equal({ foo: 'bar' });
    expect(parseTelemetry('HIL 8 124 wdt')!.kind).to.equal('wdt');
  });

  it('rejects lines that are not telemetry', function () {
    for (const l of ['', 'hello', 'HIL', 'HIL x 1 k', 'HIL 1 y k', 'HIL 1 2 ', 'HIL 1 2', '⚡ Queued: PRESSURE_UP']) {
      expect(parseTelemetry(l), l).to.equal(undefined);
    }
  });

  it('gives every line its own kinds, keys and values, though repeated tokens are shared between lines', function () {
    // Thousands of distinct tokens of one length, so the cache's slots collide all the time.
    const tok = (k: number, p: string) => p + k.toString(36).padStart(4, 'a');
    for (let k = 0; k < 3000; k++) {
      const j = (k * 7919) % 3000;
      const line = `HIL ${k} ${k * 10} ${tok(j, 'k')} ${tok(k, 'x')}=${tok(j, 'v')} ${tok(j, 'x')}=-${tok(k, 'w')} n=-${k}`;
      const want = { seq: k, tUs: k * 10, kind: tok(j, 'k'), fields: { [tok(k, 'x')]: tok(j, 'v'), [tok(j, 'x')]: `-${tok(k, 'w')}`, n: -k } };
      expect(parseTelemetry(line), line).to.deep.equal(want);
      expect(parseTelemetry(line), `${line}, again`).to.deep.equal(want);
    }
  });

  it('reads back what the sim writes, for any fields (property)', function () {
    const key = fc.stringMatching(/^[a-z_]{1,8}$/);
    const value = fc.oneof(fc.integer({ min: -1e9, max: 1e9 }), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_ "\\]{0,12}$/));
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 2 ** 40 }), fc.stringMatching(/^[a-z_]{1,10}$/), fc.dictionary(key, value, { maxKeys: 6 }), (seq, t, kind, fields) => {
        const parsed = parseTelemetry(formatHil(seq, t, kind, fields))!;
        expect(parsed.seq).to.equal(seq);
        expect(parsed.tUs).to.equal(t);
        expect(parsed.kind).to.equal(kind);
        expect(parsed.fields).to.deep.equal(fields);
      }),
    );
  });
});

describe('LineDecoder', function () {
  const d = new LineDecoder([
    { kind: 'queued', pattern: /⚡ Queued: (?<btn>[A-Z_]+)/ },
    { kind: 'pressure', pattern: /✓ Pressure: (?<bar>\d+(?:\.\d+)?) bar/g },
    { kind: 'code', pattern: /code (?<code>\d+)/, types: { code: 'string' } },
  ]);

  it('decodes free-form lines with named groups into typed fields', function () {
    expect(d.decode('⚡ Queued: PRESSURE_UP')).to.deep.equal({ kind: 'queued', fields: { btn: 'PRESSURE_UP' } });
    expect(d.decode('✓ Pressure: 105.0 bar')).to.deep.equal({ kind: 'pressure', fields: { bar: 105 } });
    // A /g pattern must not make the second identical line fail (lastIndex state).
    expect(d.decode('✓ Pressure: 105.0 bar').kind).to.equal('pressure');
    expect(d.decode('code 007')).to.deep.equal({ kind: 'code', fields: { code: '007' } });
  });

  it('tries telemetry first and falls back to kind "line"', function () {
    expect(d.decode('HIL 1 2 q_put btn=X depth=1 cap=100').kind).to.equal('q_put');
    expect(d.decode('anything else')).to.deep.equal({ kind: 'line' });
  });

  it('rejects a bad decoder spec naming the field', function () {
    expect(() => new LineDecoder([{ kind: 'a.b', pattern: /x/ }])).to.throw(/decoders\[0\]\.kind: expected a word without dots/);
    expect(() => new LineDecoder([{ kind: 'ok', pattern: 'x' as unknown as RegExp }])).to.throw(/decoders\[0\]\.pattern: expected a RegExp, found string/);
  });
});
