/** The one reconnect loop, on a virtual clock: when each attempt happens, and each way it ends. */
import { expect } from 'chai';
import { backoffDelay, retryWithBackoff } from '../../harness/core/backoff.ts';
import { flushMicrotasks, VirtualClock } from '../../harness/core/clock.ts';

describe('retryWithBackoff', function () {
  /** An attempt that fails until `okAt` (1-based), noting when (virtual ms) each attempt was made. */
  function attempts(clock: VirtualClock, okAt = Infinity) {
    const at: number[] = [];
    const t0 = clock.now();
    const fn = (n: number): Promise<string> => {
      at.push(Number(clock.now() - t0) / 1e6);
      return n >= okAt ? Promise.resolve(`open on ${n}`) : Promise.reject(new Error(`refused ${n}`));
    };
    return { at, fn };
  }

  async function advance(clock: VirtualClock, ms: number): Promise<void> {
    for (let k = 0; k < ms; k++) {
      await clock.advance(1);
      await flushMicrotasks();
    }
  }

  it('the serial consoles\' spacing: first after initialMs, doubling up to maxMs, until it opens', async function () {
    const clock = new VirtualClock();
    const { at, fn } = attempts(clock, 6);
    const r = retryWithBackoff(clock, fn, { initialMs: 50, maxMs: 300 });
    await advance(clock, 2000);
    expect(at).to.deep.equal([50, 150, 350, 650, 950, 1250]);
    expect(await r.done).to.deep.equal({ ok: true, value: 'open on 6', attempts: 6 });
  });

  it('the relay boards\' spacing: at once, then 50, 100, … ms, given up when the next wait would pass the window', async function () {
    const clock = new VirtualClock();
    const { at, fn } = attempts(clock);
    const r = retryWithBackoff(clock, fn, { initialMs: 50, maxMs: 1000, immediateFirst: true, windowMs: 1000 });
    await advance(clock, 3000);
    // 0, 50, 150, 350, 750; the next wait (800 ms) would end at 1550 > 1000.
    expect(at).to.deep.equal([0, 50, 150, 350, 750]);
    const end = await r.done;
    expect(end).to.include({ ok: false, why: 'window', attempts: 5 });
    expect((end as { last: Error }).last.message).to.equal('refused 5');
  });

  it('gives up after maxAttempts, with the last error', async function () {
    const clock = new VirtualClock();
    const { at, fn } = attempts(clock);
    const r = retryWithBackoff(clock, fn, { initialMs: 10, maxMs: 20, maxAttempts: 3 });
    await advance(clock, 500);
    expect(at).to.deep.equal([10, 30, 50]);
    expect(await r.done).to.include({ ok: false, why: 'attempts', attempts: 3 });
  });

  it('cancel() during a wait ends it at once with no later attempt; an unwanted retry makes no further attempt', async function () {
    const clock = new VirtualClock();
    const { at, fn } = attempts(clock);
    const r = retryWithBackoff(clock, fn, { initialMs: 100, maxMs: 100 });
    await advance(clock, 150);
    r.cancel();
    expect(await r.done).to.include({ ok: false, why: 'cancelled', attempts: 1 });
    await advance(clock, 500);
    expect(at).to.deep.equal([100]);

    let wanted = true;
    const b = attempts(clock);
    const r2 = retryWithBackoff(clock, b.fn, { initialMs: 10, maxMs: 10, wanted: () => wanted });
    await advance(clock, 25);
    wanted = false;
    await advance(clock, 100);
    expect(b.at).to.have.length(2);
    expect(await r2.done).to.include({ ok: false, why: 'cancelled', attempts: 2 });
  });

  it('backoffDelay: the wait before each attempt', function () {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { initialMs: 50, maxMs: 1000 }))).to.deep.equal([50, 100, 200, 400, 800, 1000]);
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, { initialMs: 50, maxMs: 1000, immediateFirst: true }))).to.deep.equal([0, 50, 100, 200, 400, 800, 1000]);
  });
});
