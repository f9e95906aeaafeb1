import { expect } from 'chai';
import { VirtualClock, flushMicrotasks } from '../../harness/core/clock.ts';
import { ExpectationError } from '../../harness/core/errors.ts';
import { ObservationLog, Priority } from '../../harness/core/observation-log.ts';

function setup(window = 1000) {
  const clock = new VirtualClock();
  const log = new ObservationLog({ clock, window, schedule: queueMicrotask });
  const line = (source: string, text: string, kind = 'line', fields?: Record<string, string | number>) =>
    log.append({ t: clock.now(), source, kind, text, ...(fields ? { fields } : {}) });
  return { clock, log, line };
}

describe('ObservationLog', function () {
  describe('append and window', function () {
    it('indexes observations from 0 and keeps a bounded window with counters', function () {
      const { log, line } = setup(4);
      for (let k = 0; k < 10; k++) line('pi', `l${k}`);
      expect(log.nextIndex).to.equal(10);
      expect(log.windowStart).to.equal(6);
      expect(log.at(5)).to.equal(undefined);
      expect(log.at(6)!.text).to.equal('l6');
      expect([...log.since(0)].map((o) => o.i)).to.deep.equal([6, 7, 8, 9]);
      expect(log.counter('pi')!.lines).to.equal(10);
    });

    it('never runs subscribers inside append; they run after', async function () {
      const { log, line } = setup();
      const seen: string[] = [];
      log.on('pi.*', (o) => seen.push(o.text!));
      line('pi', 'a');
      expect(seen).to.deep.equal([]);
      await flushMicrotasks();
      expect(seen).to.deep.equal(['a']);
    });

    it('schedules one dispatch for a reader that flushes after every line, and a new one once it has run', async function () {
      const clock = new VirtualClock();
      const queued: Array<() => void> = [];
      const log = new ObservationLog({ clock, schedule: (fn) => queued.push(fn) });
      const seen: number[] = [];
      log.on('pi.*', (o) => seen.push(o.i));
      for (let k = 0; k < 100; k++) {
        log.append({ t: clock.now(), source: 'pi', kind: 'line', text: `l${k}` });
        log.flush();
      }
      expect(seen).to.have.length(100);
      expect(queued, 'dispatches scheduled').to.have.length(1);
      queued.shift()!();
      log.append({ t: clock.now(), source: 'pi', kind: 'line', text: 'after' });
      expect(queued, 'a dispatch scheduled for the next line').to.have.length(1);
      queued.shift()!();
      expect(seen).to.have.length(101);
      await flushMicrotasks();
    });

    it('catches up synchronously rather than let unseen observations leave the window', function () {
      const clock = new VirtualClock();
      const log = new ObservationLog({ clock, window: 8, schedule: () => undefined /* never */ });
      let seen = 0;
      log.on('*', () => seen++);
      for (let k = 0; k < 100; k++) log.append({ t: clock.now(), source: 'pi', kind: 'line', text: String(k) });
      log.flush();
      expect(seen).to.equal(100);
      expect(log.undispatched).to.equal(0);
    });
  });

  describe('subscriptions', function () {
    it('routes by source and kind with wildcards', async function () {
      const { log, line } = setup();
      const got: Record<string, string[]> = { piAll: [], drops: [], qStar: [], all: [] };
      log.on('pi.*', (o) => got.piAll!.push(`${o.source}.${o.kind}`));
      log.on('*.q_drop', (o) => got.drops!.push(`${o.source}.${o.kind}`));
      log.on('pi.q_*', (o) => got.qStar!.push(`${o.source}.${o.kind}`));
      log.on('*', (o) => got.all!.push(`${o.source}.${o.kind}`));
      line('pi', 'x', 'q_put');
      line('esp', 'y', 'q_drop');
      line('pi', 'z', 'q_drop');
      line('esp', 'w', 'hb');
      await flushMicrotasks();
      expect(got.piAll).to.deep.equal(['pi.q_put', 'pi.q_drop']);
      expect(got.drops).to.deep.equal(['esp.q_drop', 'pi.q_drop']);
      expect(got.qStar).to.deep.equal(['pi.q_put', 'pi.q_drop']);
      expect(got.all).to.have.length(4);
    });

    it('runs higher priority first, and once-subscribers once', async function () {
      const { log, line } = setup();
      const order: string[] = [];
      log.on('*', () => order.push('report'), { priority: Priority.REPORT });
      log.on('*', () => order.push('safety'), { priority: Priority.SAFETY });
      log.on('*', () => order.push('default'));
      log.once('pi', () => order.push('once'));
      line('pi', 'a');
      line('pi', 'b');
      await flushMicrotasks();
      expect(order).to.deep.equal(['safety', 'default', 'once', 'report', 'safety', 'default', 'report']);
    });

    it('isolates a throwing subscriber as a dead letter; the others still run', async function () {
      const { log, line } = setup();
      let after = 0;
      log.on('*', () => {
        throw new Error('boom');
      }, { name: 'broken-invariant', priority: 10 });
      log.on('*', () => after++);
      line('pi', 'a');
      line('pi', 'b');
      await flushMicrotasks();
      expect(after).to.equal(2);
      expect(log.deadLetters).to.have.length(2);
      expect(log.deadLetters[0]!.subscriber).to.equal('broken-invariant');
      expect(String(log.deadLetters[0]!.error)).to.include('boom');
      expect(log.metrics().deadLetters).to.equal(2);
    });

    it('unsubscribes', async function () {
      const { log, line } = setup();
      let n = 0;
      const off = log.on('*', () => n++);
      line('pi', 'a');
      await flushMicrotasks();
      off();
      line('pi', 'b');
      await flushMicrotasks();
      expect(n).to.equal(1);
    });
  });

  describe('waitFor', function () {
    it('resolves with the matching observation, its index and time', async function () {
      const { log, line, clock } = setup();
      const p = log.waitFor({ topic: 'pi', text: /Queued: PRESSURE_UP/ }, { within: 50 });
      await clock.advance(10);
      line('pi', 'noise');
      line('pi', '⚡ Queued: PRESSURE_UP');
      const m = await p;
      expect(m.index).to.equal(1);
      expect(m.observation.text).to.equal('⚡ Queued: PRESSURE_UP');
      expect(m.t).to.equal(clock.now());
    });

    it('is non-consuming: two waits match the same line, and a wait can look back', async function () {
      const { log, line } = setup();
      line('pi', 'early line');
      const mark = log.nextIndex;
      line('pi', 'target');
      const a = log.waitFor({ topic: 'pi', text: 'target' }, { within: 10, from: mark });
      const b = log.waitFor({ topic: 'pi', text: 'target' }, { within: 10, from: 0 });
      const c = log.waitFor({ topic: 'pi', text: 'early' }, { within: 10, from: 0 });
      expect((await a).index).to.equal(1);
      expect((await b).index).to.equal(1);
      expect((await c).index).to.equal(0);
    });

    it('matches on fields and predicates', async function () {
      const { log, line } = setup();
      const p = log.waitFor({ topic: 'pi.q_put', fields: { btn: 'EMERGENCY', depth: 3 }, where: (o) => (o.fields!.cap as number) === 100 }, { within: 10 });
      line('pi', 'x', 'q_put', { btn: 'EMERGENCY', depth: 2, cap: 100 });
      line('pi', 'y', 'q_put', { btn: 'EMERGENCY', depth: 3, cap: 100 });
      expect((await p).index).to.equal(1);
    });

    it('fails at the deadline saying what was expected, on which device, what was seen and where the log is', async function () {
      const { log, line, clock } = setup();
      log.setSourceInfo('pi', { rawLog: 'reports/run-1/serial/pi.log' });
      const p = log.waitFor({ topic: 'pi', text: /Queued: PRESSURE_UP/ }, { within: 50 });
      line('pi', 'boot');
      line('esp', 'unrelated');
      line('pi', '⚠️  Reactor not started!');
      line('pi', 'HIL 9 100 hb thread=irq');
      const failed = p.then(
        () => expect.fail('should time out'),
        (e: unknown) => e,
      );
      await clock.advance(49);
      expect(log.pendingWaits).to.equal(1);
      await clock.advance(2);
      const e = (await failed) as ExpectationError;
      expect(e).to.be.instanceOf(ExpectationError);
      expect(e.message).to.equal(
        'expected /Queued: PRESSURE_UP/ on pi within 50 ms; saw 3 lines; last 3: boot | ⚠️  Reactor not started! | HIL 9 100 hb thread=irq; full log: reports/run-1/serial/pi.log',
      );
      expect(e.detail.source).to.equal('pi');
      expect(log.pendingWaits).to.equal(0);
    });

    it('refuses to look back past the window', async function () {
      const { log, line } = setup(2);
      for (let k = 0; k < 5; k++) line('pi', String(k));
      try {
        await log.waitFor('pi', { within: 10, from: 0 });
        expect.fail('should reject');
      } catch (e) {
        expect((e as Error).message).to.match(/index 0 has left the in-memory window \(oldest kept: 3\)/);
      }
    });

    it('can be aborted, and failWaiters rejects every pending wait', async function () {
      const { log } = setup();
      const ac = new AbortController();
      const a = log.waitFor('pi', { within: 1000, signal: ac.signal });
      const b = log.waitFor('esp', { within: 1000 });
      ac.abort(new Error('Ctrl-C'));
      log.failWaiters(new Error('death'));
      expect(await a.catch((e: Error) => e.message)).to.equal('Ctrl-C');
      expect(await b.catch((e: Error) => e.message)).to.equal('death');
    });
  });

  describe('sequences and expectNone', function () {
    it('matches steps in order under one deadline', async function () {
      const { log, line, clock } = setup();
      const p = log.waitForSequence([{ topic: 'pi.q_put' }, { topic: 'pi.q_get' }, { topic: 'pi.done' }], { within: 100 });
      line('pi', 'a', 'q_get'); // before any q_put: does not count
      line('pi', 'b', 'q_put');
      await clock.advance(30);
      line('pi', 'c', 'q_get');
      line('pi', 'd', 'done');
      const ms = await p;
      expect(ms.map((m) => m.index)).to.deep.equal([1, 2, 3]);
    });

    it('names the step that did not come', async function () {
      const { log, line, clock } = setup();
      const p = log.waitForSequence(['pi.q_put', 'pi.done'], { within: 100 }).catch((e: Error) => e);
      line('pi', 'x', 'q_put');
      await clock.advance(101);
      const e = (await p) as Error;
      expect(e.message).to.match(/^step 2 of 2 of a sequence: expected done on pi within \d+(\.\d+)? ms/);
      expect(e.message).to.include('steps 1–1 matched at #0');
    });

    it('expectNone resolves when nothing matched during the window', async function () {
      const { log, line, clock } = setup();
      const p = log.expectNone({ topic: 'pi.q_drop' }, { during: 100 });
      line('pi', 'fine', 'q_put');
      await clock.advance(101);
      await p;
    });

    it('expectNone rejects at once on a match, naming it', async function () {
      const { log, line, clock } = setup();
      const p = log.expectNone({ topic: 'pi', text: /Traceback/ }, { during: 1000 }).catch((e: Error) => e);
      await clock.advance(120);
      line('pi', 'Traceback (most recent call last):');
      const e = (await p) as Error;
      expect(e.message).to.match(/^expected no \/Traceback\/ on pi during 1000 ms; saw at \+120\.0 ms \(#0\): Traceback/);
    });
  });
});
