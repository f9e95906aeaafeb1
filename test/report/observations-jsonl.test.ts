import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import type { NewObservation, Observation } from '../../harness/core/observation.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { ObservationFileWriter, readObservations } from '../../harness/report/observations-jsonl.ts';
import { tempDirPerTest } from './helpers.ts';

const SAMPLES: NewObservation[] = [
  { t: 1_000_000_000n, source: 'pi', kind: 'line', text: 'plain line' },
  // Beyond 2^53 ns: a number would lose the low digits.
  { t: 9_223_372_036_854_775_001n, source: 'pi', kind: 'q_put', text: 'HIL 42 123456789 q_put btn=UP depth=3 cap=4', fields: { btn: 'UP', depth: 3, cap: 4 }, seq: 42, tDev: 123_456_789 },
  { t: 9_007_199_254_740_993n, source: 'esp', kind: 'warn', text: 'msg with "quotes", commas, \\ backslash, ünïcödé 漢字 😀\ttab', fields: { msg: 'a "b"\nc', x: -1.5e-7, empty: '' }, seq: 0, tDev: 0 },
  { t: 1_000_000_001n, source: 'relays-a', kind: 'press', fields: { pin: 4, button: 'EMERGENCY' } },
  { t: 1_000_000_002n, source: 'harness', kind: 'note' },
];

describe('observations.jsonl', function () {
  const tmp = tempDirPerTest();

  it('round-trips every observation, bigint times and all fields', async function () {
    const clock = new VirtualClock();
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const file = path.join(tmp.dir, 'observations.jsonl');
    const w = new ObservationFileWriter(log, file);
    const appended: Observation[] = SAMPLES.map((o) => log.append({ ...o }));
    w.close();
    const back = await readObservations(file);
    expect(back).to.deep.equal(appended);
    expect(typeof back[1]!.t).to.equal('bigint');
    expect(back[1]!.t).to.equal(9_223_372_036_854_775_001n);
    // One JSON object per line, t as a decimal string.
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines).to.have.length(SAMPLES.length + 1);
    expect(lines.at(-1)).to.equal('');
    expect((JSON.parse(lines[1]!) as { t: unknown }).t).to.equal('9223372036854775001');
  });

  it('caps what one flooding device may write, counts what it left out, and never caps the harness', async function () {
    const clock = new VirtualClock();
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const file = path.join(tmp.dir, 'observations.jsonl');
    const w = new ObservationFileWriter(log, file, { maxBytesPerSource: 10_000 });
    for (let k = 0; k < 2000; k++) {
      log.append({ t: BigInt(k), source: 'pi', kind: 'line', text: `flood line ${k} ${'x'.repeat(40)}` });
      if (k % 100 === 0) log.append({ t: BigInt(k), source: 'esp', kind: 'line', text: `calm ${k}` });
      if (k % 100 === 0) log.append({ t: BigInt(k), source: 'harness', kind: 'note', fields: { what: `note ${k}` } });
    }
    w.close();
    const back = await readObservations(file);
    const pi = back.filter((o) => o.source === 'pi');
    expect(fs.statSync(file).size).to.be.below(10_000 + 20 * 200 + 2000);
    expect(pi.length).to.be.greaterThan(50).and.below(2000);
    expect(pi.map((o) => o.text)).to.deep.equal(Array.from({ length: pi.length }, (_, k) => `flood line ${k} ${'x'.repeat(40)}`));
    expect(back.filter((o) => o.source === 'esp')).to.have.length(20);
    expect(back.filter((o) => o.source === 'harness' && o.kind === 'note')).to.have.length(20);
    const cap = back.filter((o) => o.kind === 'log_cap');
    expect(cap.map((o) => o.fields)).to.deep.equal([{ part: 'pi', what: 'observations.jsonl', left_out: 2000 - pi.length, cap_bytes: 10_000 }]);
  });

  it('batches, and writes within flushMs of the log clock without close', async function () {
    const clock = new VirtualClock();
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const file = path.join(tmp.dir, 'observations.jsonl');
    const w = new ObservationFileWriter(log, file, { flushMs: 200 });
    try {
      log.append({ t: clock.now(), source: 'pi', kind: 'hb' });
      log.flush();
      expect(fs.statSync(file).size).to.equal(0); // batched
      await clock.advance(199);
      expect(fs.statSync(file).size).to.equal(0);
      await clock.advance(1);
      expect(await readObservations(file)).to.have.length(1);
      log.append({ t: clock.now(), source: 'pi', kind: 'hb' });
      log.append({ t: clock.now(), source: 'pi', kind: 'hb' });
      log.flush();
      await clock.advance(200);
      expect((await readObservations(file)).map((o) => o.i)).to.deep.equal([0, 1, 2]);
      expect(w.written).to.equal(3);
    } finally {
      w.close();
    }
  });

  it('writes early when the batch grows past maxBufferBytes', async function () {
    const clock = new VirtualClock();
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const file = path.join(tmp.dir, 'observations.jsonl');
    const w = new ObservationFileWriter(log, file, { flushMs: 10_000, maxBufferBytes: 1000 });
    try {
      let bytes = 0;
      let flushedAt = -1;
      for (let k = 0; k < 55; k++) {
        const o = log.append({ t: clock.now(), source: 'pi', kind: 'line', text: 'x'.repeat(40) });
        log.flush();
        bytes += JSON.stringify({ i: o.i, t: String(o.t), source: o.source, kind: o.kind, text: o.text }).length + 1;
        const onDisk = fs.statSync(file).size;
        if (bytes < 1000) expect(onDisk, `after ${k + 1} lines`).to.equal(0);
        else if (flushedAt < 0) {
          flushedAt = k + 1;
          expect(onDisk, `after ${k + 1} lines`).to.equal(bytes);
        }
      }
      expect(flushedAt).to.be.greaterThan(1);
      expect(w.written).to.be.within(flushedAt, 54);
    } finally {
      w.close();
    }
    expect(await readObservations(file)).to.have.length(55);
  });

  it('skips an unfinished last line but names a malformed line in the middle', async function () {
    const file = path.join(tmp.dir, 'o.jsonl');
    const good = '{"i":0,"t":"5","source":"pi","kind":"hb"}\n';
    fs.writeFileSync(file, good + '{"i":1,"t":"6","sour');
    expect(await readObservations(file)).to.deep.equal([{ i: 0, t: 5n, source: 'pi', kind: 'hb' }]);
    fs.writeFileSync(file, good + '{"i":1,"t":6,"source":"pi","kind":"hb"}\n' + good);
    let err: unknown;
    try {
      await readObservations(file);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.match(/o\.jsonl:2: not an observation: "t" must be a decimal string of ns; got 6/);
  });
});
