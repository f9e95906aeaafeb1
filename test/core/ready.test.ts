/**
 * Ready at the start of a run, on the virtual clock: a device that is up and beating is ready
 * once it has beaten for its boot time with no boot line; a device seen booting, or caught
 * between its boot line and its ready line, waits for its ready line.
 */
import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { runStartReadyExpectation } from '../../harness/core/ready.ts';

const READY = /Control panel ready/;
const BOOT_MS = 4000;
const ms = (n: number) => BigInt(n) * 1_000_000n;

describe('ready at the start of a run', function () {
  let clock: VirtualClock;
  let log: ObservationLog;
  let at: bigint;
  beforeEach(function () {
    clock = new VirtualClock();
    log = new ObservationLog({ clock, schedule: queueMicrotask });
    at = clock.now();
  });
  const tick = () => new Promise((r) => setImmediate(r));
  const hb = (t: number) => log.append({ t: at + ms(t), source: 'pi', kind: 'hb', text: `HIL ${t} ${t * 1000} hb thread=irq`, fields: { thread: 'irq' } });
  const line = (t: number, text: string, kind = 'line') => log.append({ t: at + ms(t), source: 'pi', kind, text });
  /** Start waiting; `state()` tells whether it has resolved, and with which observation. */
  const wait = () => {
    let got: string | undefined;
    const p = log.waitFor(runStartReadyExpectation('pi', READY, BOOT_MS), { within: BOOT_MS + 10_000, from: 0 }).then((m) => (got = `${m.observation.kind}@${Number((m.t - at) / 1_000_000n)}`));
    p.catch(() => undefined);
    return { state: () => got };
  };

  it('a device already running (heartbeats, no boot line) is ready after beating for its boot time, not at its first beat', async function () {
    const w = wait();
    for (let t = 0; t < BOOT_MS; t += 500) hb(t);
    await tick();
    expect(w.state(), 'ready before its boot time had passed').to.equal(undefined);
    hb(BOOT_MS);
    await tick();
    expect(w.state()).to.equal(`hb@${BOOT_MS}`);
  });

  it('caught between its boot line and its ready line (the boot line was before the console opened): ready at the ready line, not at the beats before it', async function () {
    const w = wait();
    hb(0);
    hb(500);
    await tick();
    expect(w.state()).to.equal(undefined);
    line(900, '🚀 Control panel ready');
    await tick();
    expect(w.state()).to.equal('line@900');
  });

  it('seen booting: ready only at its ready line, however long it beats before it', async function () {
    const w = wait();
    line(0, 'HIL 1 5 boot fw=panel ver=3.3', 'boot');
    for (let t = 100; t <= BOOT_MS + 2000; t += 500) hb(t);
    await tick();
    expect(w.state()).to.equal(undefined);
    line(BOOT_MS + 2100, '🚀 Control panel ready');
    await tick();
    expect(w.state()).to.equal(`line@${BOOT_MS + 2100}`);
  });

  it('beats, then reboots (watchdog or boot line) before its boot time has passed: the beats no longer count, its ready line does', async function () {
    for (const kind of ['boot', 'wdt']) {
      const w = wait();
      hb(0);
      hb(500);
      line(1000, `HIL 1 5 ${kind}`, kind);
      for (let t = 1500; t <= BOOT_MS + 3000; t += 500) hb(t);
      await tick();
      expect(w.state(), `after a ${kind} line`).to.equal(undefined);
      line(BOOT_MS + 3100, '🚀 Control panel ready');
      await tick();
      expect(w.state()).to.equal(`line@${BOOT_MS + 3100}`);
      log = new ObservationLog({ clock, schedule: queueMicrotask });
    }
  });

  it('a device that never beats nor says it is ready: not ready (the run warns after boot time + 10 s)', async function () {
    let failed: Error | undefined;
    log.waitFor(runStartReadyExpectation('pi', READY, BOOT_MS), { within: BOOT_MS + 10_000, from: 0 }).catch((e: Error) => (failed = e));
    line(0, 'some line');
    await clock.advance(BOOT_MS + 10_001);
    await tick();
    expect(failed?.message).to.match(/pi ready \(a line matching \/Control panel ready\/, or heartbeats for its boot time 4000 ms with no boot line\)/);
  });
});
