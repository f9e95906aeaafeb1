/**
 * A harness the machine did not run for a while (CPU load, a long GC) must not read its own stall
 * as the device's silence: its timers fire before it reads what arrived meanwhile. Real PTY,
 * real serial source, the real clock; the stall is a synchronous busy wait, during which the
 * "device" writes its line (a synchronous write into the PTY, as another process would).
 */
import { expect } from 'chai';
import { InvariantMonitor } from '../../harness/core/invariants/monitor.ts';
import { resolveInvariantConfig } from '../../harness/core/invariants/types.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { LineDecoder } from '../../harness/core/decoders.ts';
import { SerialLineSource } from '../../harness/hw/serial-line-source.ts';
import { PtyPair } from '../../harness/sim/pty.ts';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the process is "not running" as far as its event loop is concerned
  }
}

describe('a harness stalled past a deadline', function () {
  this.timeout(20_000);
  let pty: PtyPair;
  let log: ObservationLog;
  let src: SerialLineSource;

  beforeEach(async function () {
    pty = new PtyPair();
    log = new ObservationLog();
    src = new SerialLineSource({ name: 'dev', port: { path: pty.path }, log, decoder: new LineDecoder([]) });
    await src.open();
  });

  afterEach(async function () {
    await src.close();
    pty.close();
  });

  it('a wait whose line arrived in time succeeds, though the harness only read it after the deadline', async function () {
    const wait = log.waitFor({ topic: 'dev', text: 'ready' }, { within: 200 });
    busy(100);
    pty.write('ready\n'); // in the kernel at 100 ms, well within the 200 ms
    busy(400); // the harness runs again at 500 ms: its 200 ms timer is due before the read
    const m = await wait;
    expect(m.observation.text).to.equal('ready');
  });

  it('a wait whose line never came still times out', async function () {
    const wait = log.waitFor({ topic: 'dev', text: 'ready' }, { within: 200 });
    busy(400);
    const err = await wait.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/expected "ready" on dev within 200 ms/);
  });

  it('heartbeats written while the harness was stalled are not read as a silent device', async function () {
    const config = resolveInvariantConfig({ buttons: {}, devices: { dev: {} } }, { devices: { dev: { heartbeat: { periodMs: 100, marginMs: 200 } } } });
    const mon = new InvariantMonitor(log, config, { tickMs: 50 });
    let seq = 0;
    const beat = () => pty.write(`HIL ${seq++} ${Math.round(performance.now() * 1000)} hb thread=main\n`);
    try {
      for (let k = 0; k < 5; k++) {
        beat();
        await new Promise((r) => setTimeout(r, 100));
      }
      // The device beats every 100 ms throughout; the harness is not run for 1.5 s.
      for (let k = 0; k < 15; k++) {
        busy(100);
        beat();
      }
      for (let k = 0; k < 5; k++) {
        beat();
        await new Promise((r) => setTimeout(r, 100));
      }
      const silent = mon.violations.filter((v) => v.invariant === 'heartbeat');
      expect(silent.map((v) => v.detail)).to.deep.equal([]);
      expect(log.since(0).next().value, 'heartbeats were read').to.not.equal(undefined);
    } finally {
      mon.close();
    }
  });

  it('a device that really stops beating is still reported', async function () {
    const config = resolveInvariantConfig({ buttons: {}, devices: { dev: {} } }, { devices: { dev: { heartbeat: { periodMs: 100, marginMs: 200 } } } });
    const mon = new InvariantMonitor(log, config, { tickMs: 50 });
    let seq = 0;
    try {
      for (let k = 0; k < 5; k++) {
        pty.write(`HIL ${seq++} ${Math.round(performance.now() * 1000)} hb thread=main\n`);
        await new Promise((r) => setTimeout(r, 100));
      }
      busy(1000);
      await new Promise((r) => setTimeout(r, 300));
      expect(mon.violations.filter((v) => v.invariant === 'heartbeat').length).to.be.above(0);
    } finally {
      mon.close();
    }
  });
});

