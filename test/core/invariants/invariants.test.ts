import { expect } from 'chai';
import { VirtualClock } from '../../../harness/core/clock.ts';
import { RigFault, ExpectationError } from '../../../harness/core/errors.ts';
import { checkObservations, decideVerdict, InvariantMonitor, recordedWindows, windowSettleMs, type Violation } from '../../../harness/core/invariants/index.ts';
import { judgeRunLatency } from '../../../harness/core/invariants/report.ts';
import { ObservationLog } from '../../../harness/core/observation-log.ts';
import { config, Trace } from './trace.ts';

const names = (vs: readonly Violation[]): string[] => vs.map((v) => `${v.invariant}/${v.kind}`);

/** The healthy script every fault test bends: two channels overlapping, processing, an HTTP request, a state change relayed. */
function healthy(tr = new Trace()): Trace {
  const a = tr.press('PRESSURE_UP');
  tr.advance(10);
  const b = tr.press('SHIM_ROD_UP'); // overlaps: PRESSURE_UP is still held
  tr.advance(14);
  tr.release(a, 'PRESSURE_UP');
  tr.process();
  tr.release(b, 'SHIM_ROD_UP');
  tr.click('PRESSURE_UP');
  tr.process();
  tr.dev('pi', 'state', { reactor: 1, pump_primary: 'STARTING' });
  tr.advance(80);
  tr.dev('esp', 'state', { src: 'pi', n: 7, reactor: 1, pump_primary: 'STARTING' });
  tr.request();
  tr.advance(600);
  return tr;
}

describe('core/invariants', function () {
  describe('healthy trace', function () {
    it('passes every invariant and fills the stats and rows', function () {
      const tr = healthy();
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal([]);
      const w = r.windows[0]!;
      const pi = w.stats.find((s) => s.device === 'pi')!;
      expect(pi).to.include({ presses: 3, events_queued: 3, events_processed: 3, events_dropped: 0, max_depth: 2, queue_capacity: 100, cb_p50_us: 40, cb_max_us: 40 });
      expect(pi.proc_p50_ms).to.be.greaterThan(1).and.lessThan(30);
      expect(pi.press_to_edge_p50_ms).to.be.greaterThan(5).and.lessThan(8);
      expect(w.presses.map((p) => [p.press_id, p.button, p.outcome, p.events])).to.deep.equal([
        [1, 'PRESSURE_UP', 'processed', 1],
        [2, 'SHIM_ROD_UP', 'processed', 1],
        [3, 'PRESSURE_UP', 'processed', 1],
      ]);
      const row = w.presses[1]!;
      expect(row.depth_after_put).to.equal(2);
      expect(row.edge_host).to.have.property('t');
      expect(row.done_us! - row.queued_us!).to.be.greaterThan(0);
      expect(w.requests.map((q) => [q.request_id, q.status, q.outcome])).to.deep.equal([['h1', 202, 'processed']]);
      expect(decideVerdict(w.violations).verdict).to.equal('PASS');
    });
  });

  describe('queue bound', function () {
    it('a put above capacity and a cap= that disagrees with the rig are both reported', function () {
      const tr = new Trace();
      tr.dev('pi', 'q_put', { btn: 'PRESSURE_UP', depth: 101, cap: 100 });
      tr.dev('pi', 'q_put', { btn: 'PRESSURE_UP', depth: 3, cap: 50 });
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.include.members(['queue-bound/firmware', 'queue-capacity/firmware']);
      expect(r.violations.find((v) => v.invariant === 'queue-bound')!.detail).to.match(/depth 101, above its capacity 100/);
    });

    it('a refusal with room left is a violation; one at capacity is not', function () {
      const tr = new Trace();
      tr.cap = 100;
      tr.click('PRESSURE_UP', { mode: 'drop' }); // the scripted queue is empty: depth 0 of 100
      const r = checkObservations(tr.obs, config());
      expect(r.violations.map((v) => v.detail)).to.satisfy((ds: string[]) => ds.some((d) => /refused press #1 .* at depth 0 of 100/.test(d)));
      const ok = new Trace();
      for (let k = 0; k < 100; k++) ok.queue.push('X');
      ok.click('PRESSURE_UP', { mode: 'drop' });
      const r2 = checkObservations(ok.obs, config({ devices: { pi: { drain: { serviceMs: 50, factor: 3, slackMs: 60_000 } } } }));
      expect(names(r2.violations)).to.deep.equal([]);
      expect(r2.windows[0]!.presses[0]!.outcome).to.equal('dropped');
    });
  });

  describe('exactly once, in order', function () {
    it('a press the device never saw fails with its press id', function () {
      const tr = healthy();
      const id = tr.click('SHIM_ROD_UP', { mode: 'none' });
      tr.advance(1500);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
      expect(r.violations[0]!.pressId).to.equal(id);
      expect(r.violations[0]!.detail).to.match(new RegExp(`press #${id} \\(SHIM_ROD_UP\\).*no edge on GPIO 24`));
      expect(r.windows[0]!.presses.find((p) => p.press_id === id)!.outcome).to.equal('lost');
    });

    it('one press giving two edges and two events (no debounce) is a duplicate', function () {
      const tr = healthy();
      const id = tr.click('SHIM_ROD_UP', { bounces: 2 });
      tr.process();
      tr.advance(200);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
      expect(r.violations[0]!.detail).to.match(new RegExp(`press #${id} \\(SHIM_ROD_UP\\) made pi queue or refuse a second event .*contact bounced \\(2 edges so far\\).*contact bounce not debounced`));
      const row = r.windows[0]!.presses.find((p) => p.press_id === id)!;
      expect([row.outcome, row.events]).to.deep.equal(['duplicated', 3]);
    });

    it('an event the callback neither queued nor refused vanished', function () {
      const tr = healthy();
      const id = tr.click('PRESSURE_UP', { mode: 'silent' });
      tr.advance(100);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
      expect(r.violations[0]!.detail).to.match(new RegExp(`press #${id} .*neither queued .* vanished`));
    });

    it('processing out of enqueue order names both presses', function () {
      const tr = new Trace();
      const a = tr.click('PRESSURE_UP');
      const b = tr.click('SHIM_ROD_UP');
      tr.process(2, [1, 0]);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['order/firmware']);
      expect(r.violations[0]!.detail).to.match(new RegExp(`took press #${b} .* before press #${a}`));
    });

    it('an event processed twice (a second done) is reported', function () {
      const tr = new Trace();
      tr.click('PRESSURE_UP');
      tr.process();
      tr.dev('pi', 'done', { btn: 'PRESSURE_UP', dur_us: 1000 });
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
      expect(r.violations[0]!.detail).to.match(/finished PRESSURE_UP .* no q_get/);
    });

    it('an HTTP request answered 202 that the ESP never queued vanished', function () {
      const tr = new Trace();
      const id = tr.request({ queue: false, status: 202 });
      tr.request({ queue: false, status: 404 }); // refused: no event expected
      tr.advance(1500);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
      expect(r.violations[0]!.requestId).to.equal(id);
      expect(r.windows[0]!.requests.map((q) => q.outcome)).to.deep.equal(['lost', 'no_event']);
    });

    it('overlapping presses on different channels are matched to their own edges', function () {
      const tr = new Trace();
      const a = tr.press('PRESSURE_UP');
      const b = tr.press('SHIM_ROD_UP');
      const c = tr.press('PRESSURE_DOWN');
      tr.advance(20);
      tr.release(b, 'SHIM_ROD_UP');
      tr.release(a, 'PRESSURE_UP');
      tr.release(c, 'PRESSURE_DOWN');
      tr.process();
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal([]);
      expect(r.windows[0]!.presses.map((p) => [p.press_id, p.button, p.outcome])).to.deep.equal([
        [a, 'PRESSURE_UP', 'processed'],
        [b, 'SHIM_ROD_UP', 'processed'],
        [c, 'PRESSURE_DOWN', 'processed'],
      ]);
    });
  });

  describe('liveness', function () {
    it('a device whose threads all stop is HUNG, with its frozen queue', function () {
      const tr = healthy();
      tr.click('PRESSURE_UP');
      for (const th of ['irq', 'processor', 'control', 'esplink']) tr.stopped.add(`pi:${th}`);
      tr.advance(3000);
      const r = checkObservations(tr.obs, config());
      expect(r.violations.every((v) => v.kind === 'hung')).to.equal(true);
      expect(r.violations.map((v) => v.invariant)).to.include.members(['heartbeat', 'drain']);
      expect(r.violations.find((v) => /is HUNG/.test(v.detail))!.detail).to.match(/queue frozen at depth 1 \(press #4/);
      expect(decideVerdict(r.violations).verdict).to.equal('HUNG');
    });

    it('a queue that stops draining while the threads beat is reported', function () {
      const tr = healthy();
      for (let k = 0; k < 3; k++) tr.click('PRESSURE_UP');
      tr.advance(2000);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['drain/hung']);
      expect(r.violations[0]!.detail).to.match(/press #4 .* was not taken within/);
    });

    it('a heartbeat that stops is a hang; one that comes late (by the device clock) is a firmware violation', function () {
      const hb = { devices: { pi: { heartbeat: { periodMs: 250, marginMs: 250 } } } };
      const stop = healthy();
      stop.stopped.add('pi:control');
      stop.advance(900);
      expect(names(checkObservations(stop.obs, config(hb)).violations)).to.deep.equal(['heartbeat/hung']);
      // Late: 650 ms apart on the device, but the first line sat 250 ms in the link, so the host
      // never saw 500 ms of silence.
      const late = new Trace();
      late.stopped.add('pi:control');
      late.advance(300);
      late.dev('pi', 'hb', { thread: 'control', depth: 0, processed: 0 }, { dtUs: -250_000, arriveNs: late.t + 1_000_000n });
      late.advance(400);
      late.dev('pi', 'hb', { thread: 'control', depth: 0, processed: 0 });
      late.advance(100);
      const r = checkObservations(late.obs, config(hb));
      expect(names(r.violations)).to.deep.equal(['heartbeat/firmware']);
      expect(r.violations[0]!.detail).to.match(/thread control beat 650 ms after its previous heartbeat/);
      expect(names(checkObservations(late.obs, config()).violations)).to.deep.equal([]);
    });
  });

  describe('a press whose contact never closed', function () {
    it('is the one without an edge: the next presses keep their own edges instead of each taking the one after', function () {
      const tr = new Trace();
      const ids: number[] = [];
      for (let k = 0; k < 12; k++) {
        // The sixth press's relay never made contact (a starved or worn relay): no edge at all.
        ids.push(tr.click('PRESSURE_UP', k === 5 ? { mode: 'none' } : {}));
        tr.process();
        tr.advance(30); // the relays' minimum gap
      }
      tr.advance(1500);
      const r = checkObservations(tr.obs, config());
      expect(r.violations.map((v) => v.detail)).to.satisfy((ds: string[]) => ds.length === 1 && ds[0]!.startsWith(`press #${ids[5]} (PRESSURE_UP): relay energised`));
      const rows = r.windows[0]!.presses;
      expect(rows.filter((p) => p.outcome === 'processed').map((p) => p.press_id)).to.deep.equal(ids.filter((_, k) => k !== 5));
    });
  });

  describe('a loaded link that delivers a press\'s bounce after the next press was commanded', function () {
    /**
     * Eight presses of one button at about the rig's fastest repeat (60 ms), the way
     * test/fixtures/dut/panel.py answers them: it prints the edge, runs the callback at once and
     * logs the rest of the make bounce raw. The bench takes 20 ms from command to edge line and the
     * link holds every line 48 ms, so each press's lines, its bounce with them, arrive after the
     * next press was commanded (seen at load 4–5: bounce placed 40–49 ms before that command).
     * `slow`: that press's callback really runs 25 ms after its own edge.
     */
    function burst(slow?: number): { r: ReturnType<typeof checkObservations>; ids: number[] } {
      const tr = new Trace();
      // Past the boot's young fit (64 lines and 5 s): a young fit may place a line early, and the
      // rule below is not used on one.
      tr.advance(5_500);
      tr.linkNs = 48_000_000n;
      const ids: number[] = [];
      for (let k = 0; k < 8; k++) {
        ids.push(tr.click('PRESSURE_UP', { edgeMs: 20, raw: 2, ...(k === slow ? { cbDelayMs: 25, holdMs: 50 } : {}) }));
        tr.advance(26);
      }
      tr.process();
      tr.advance(1500);
      const limits = { callbackUs: { max: 20_000 }, edgeToCallbackUs: { max: 20_000 } };
      return { r: checkObservations(tr.inArrivalOrder(), config({ devices: { pi: limits } })), ids };
    }

    it('the bounce stays with its own press: each callback is timed from its own edge', function () {
      const { r, ids } = burst();
      expect(r.violations.map((v) => v.detail)).to.deep.equal([]);
      const rows = r.windows[0]!.presses;
      expect(rows.map((p) => [p.press_id, p.outcome, p.events])).to.deep.equal(ids.map((id) => [id, 'processed', 1]));
      for (const p of rows) expect(p.edge_to_cb_us, `press #${p.press_id}`).to.be.lessThan(100);
      // Each press's edge is placed after its own command, never before.
      for (const p of rows) expect(p.press_to_edge_ms, `press #${p.press_id}`).to.be.within(20, 22);
    });

    it('a callback that really ends 25 ms after its own edge still fails, and only that one', function () {
      const { r, ids } = burst(3);
      expect(names(r.violations)).to.deep.equal(['callback-latency/firmware']);
      expect(r.violations[0]!.detail).to.match(new RegExp(`^press #${ids[3]} \\(PRESSURE_UP\\): 250\\d\\d µs from pi's edge line to the end of its callback \\(limit 20000 µs`));
    });
  });

  describe('a press the bench reports it performed short', function () {
    /** Twelve presses; the sixth has no edge, and the bench may say why (a `short_press` of relays-a). */
    function trace(short: { button: string } | undefined): { r: ReturnType<typeof checkObservations>; ids: number[] } {
      const tr = new Trace();
      const ids: number[] = [];
      for (let k = 0; k < 12; k++) {
        ids.push(tr.click('PRESSURE_UP', k === 5 ? { mode: 'none' } : {}));
        if (k === 5 && short) {
          const reason = 'the simulated bench energised PRESSURE_UP\'s relay for 4.2 ms, shorter than the rig\'s minHoldMs 30 ms';
          // Reported late, as a slow link delivers it: after the press's release, naming it by number.
          tr.harness('relays-a', 'short_press', { button: short.button, press: 6, reason, short: 'hold', performed_ms: 4.2, limit_ms: 30 });
        }
        tr.process();
        tr.advance(30);
      }
      tr.advance(1500);
      return { r: checkObservations(tr.obs, config()), ids };
    }

    it('its missing edge is the bench\'s (ERROR), not the firmware\'s, and the other presses are judged as ever', function () {
      const { r, ids } = trace({ button: 'PRESSURE_UP' });
      expect(names(r.violations)).to.deep.equal(['exactly-once/rig']);
      expect(r.violations[0]!.detail).to.match(new RegExp(`^press #${ids[5]} \\(PRESSURE_UP\\): pi printed no edge on GPIO 12, but the press was not performed as commanded \\(#\\d+: the simulated bench energised PRESSURE_UP's relay for 4\\.2 ms.*\\); the firmware is not judged on it$`));
      expect(decideVerdict(r.violations).verdict).to.equal('ERROR');
      expect(r.windows[0]!.presses.filter((p) => p.outcome === 'processed').map((p) => p.press_id)).to.deep.equal(ids.filter((_, k) => k !== 5));
    });

    it('a report about another button leaves the firmware answerable for its missing edge (FAIL)', function () {
      const { r } = trace({ button: 'SHIM_ROD_UP' });
      expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
      expect(decideVerdict(r.violations).verdict).to.equal('FAIL');
    });
  });

  describe('latency', function () {
    it('a callback over 1000 µs fails by default; a p99 limit is decided over the run\'s pooled samples, a test window deciding it only with enough of its own', function () {
      const tr = healthy();
      const id = tr.click('SHIM_ROD_UP', { cbUs: 3200 });
      tr.process();
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['callback-latency/firmware']);
      expect(r.violations[0]!.detail).to.match(new RegExp(`press #${id} .*callback took 3200 µs \\(limit 1000 µs`));
      expect(r.windows[0]!.stats.find((s) => s.device === 'pi')!.cb_max_us).to.equal(3200);
      // Was: the window of four samples FAILed the p99 on its one slow sample. Alone, that is a
      // claim at 95 % (one of four above a true p99 of 2000 µs happens less than 4 % of the time),
      // but a run makes one such claim per test, and a p99 over one to five samples is their
      // maximum: one host hiccup in a healthy run's button tests failed a test (the verdict matrix
      // on c0319e7). A window now decides a p99 only with the 299 samples it takes to show it
      // within; the run's pooled samples decide it here, and show it beyond.
      const cfg = config({ devices: { pi: { callbackUs: { p50: 100, p99: 2000 }, edgeToCallbackUs: {} } } });
      const p = checkObservations(tr.obs, cfg);
      expect(p.windows[0]!.violations.map((v) => v.detail)).to.deep.equal([]);
      expect(p.windows[0]!.latency.find((j) => j.measure === 'callback' && j.p === 99)).to.include({ standing: 'insufficient', n: 4, needed: 299 });
      expect(p.windows[0]!.latency.find((j) => j.measure === 'callback' && j.p === 50)).to.include({ standing: 'insufficient', n: 4, needed: 5 });
      const run = judgeRunLatency(cfg, p.windows, 0n, 0);
      expect(run.violations.map((v) => v.detail)).to.satisfy((ds: string[]) => ds.length === 1 && /callback duration p99 3200 µs over 4 samples \(bounds 3200–∞ µs at 95 %\), limit 2000 µs: beyond the limit/.test(ds[0]!));
    });

    // Was: "lets one outlier in forty through, and fails when one in ten is slow" over 40 samples.
    // Four slow samples in forty do not show a p95 beyond its limit (a true p95 at the limit gives
    // four or more in forty 14 % of the time), and forty fast ones cannot show it within (59 are
    // needed at 95 %): the window now says so instead of deciding on noise. The same mixes over
    // 200 samples are decided, both ways.
    it('a p95 limit is decided only when the samples show it: one in a hundred slow passes and one in ten fails over 200, not over 40', function () {
      const lim = config({ devices: { pi: { callbackUs: { p95: 2000, minSamples: 3 }, edgeToCallbackUs: {} } } });
      const run = (n: number, slowEvery: number) => {
        const tr = new Trace();
        for (let k = 1; k <= n; k++) {
          tr.click('PRESSURE_UP', { cbUs: k % slowEvery === 0 ? 5100 : 40 });
          tr.process();
        }
        const w = checkObservations(tr.obs, lim).windows[0]!;
        return { violations: w.violations.map((v) => v.detail), p95: w.latency.find((j) => j.device === 'pi' && j.measure === 'callback' && j.p === 95)! };
      };
      const few = run(40, 10);
      expect(few.violations).to.deep.equal([]);
      expect(few.p95).to.include({ standing: 'insufficient', n: 40, needed: 59 });
      expect(few.p95.text).to.match(/not enough samples \(40 of 59 needed\)/);
      const ok = run(200, 100); // two hiccups of 5.1 ms in 200
      expect(ok.violations).to.deep.equal([]);
      expect(ok.p95.standing).to.equal('within');
      const slow = run(200, 10); // twenty in 200
      expect(slow.violations).to.have.length(1);
      expect(slow.violations[0]).to.match(/callback duration p95 5100 µs over 200 samples \(bounds 5100–5100 µs at 95 %\), limit 2000 µs: beyond the limit/);
    });

    it('processing latency q_put → done over the limit', function () {
      const tr = healthy();
      tr.click('PRESSURE_UP');
      tr.advance(300);
      tr.process();
      const r = checkObservations(tr.obs, config({ devices: { pi: { processingMs: { max: 100 } } } }));
      expect(names(r.violations)).to.deep.equal(['processing-latency/firmware']);
      expect(names(checkObservations(healthy().obs, config({ devices: { pi: { processingMs: { max: 100 } } } })).violations)).to.deep.equal([]);
    });
  });

  describe('cross-device causality', function () {
    it('a pump start the ESP never shows is reported; one it shows is not', function () {
      const tr = healthy();
      tr.dev('pi', 'state', { reactor: 1, pump_primary: 'ON' });
      tr.advance(100);
      tr.dev('esp', 'state', { src: 'pi', reactor: 1, pump_primary: 'STARTING' });
      tr.advance(700);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['causality/firmware']);
      expect(r.violations[0]!.detail).to.match(/pi changed pump_primary to ON .* esp did not show it within 500 ms/);
    });
  });

  describe('a harness that was stalled reads its backlog', function () {
    /** The Pi changes a pump; the harness then stops reading for 600 ms; the Pi's lines of that span are read first, the ESP's after. */
    function stalled(espShows: string): Trace {
      const tr = healthy();
      tr.dev('pi', 'state', { reactor: 1, pump_primary: 'ON' });
      const resume = tr.t + 600n * 1_000_000n;
      for (let k = 1; k <= 5; k++) tr.dev('pi', 'hb', { thread: 'irq', depth: 0, processed: 0 }, { dtUs: k * 100_000, arriveNs: resume });
      tr.dev('esp', 'state', { src: 'pi', reactor: 1, pump_primary: espShows }, { dtUs: 100_000, arriveNs: resume + 2_000_000n });
      tr.t = resume + 3_000_000n;
      tr.advance(700);
      return tr;
    }

    it("does not judge one console's evidence missing while another's backlog is read: the ESP showed it 100 ms after", function () {
      expect(names(checkObservations(stalled('ON').obs, config()).violations)).to.deep.equal([]);
    });

    it('still reports a change the ESP never showed, once the backlog is in', function () {
      const r = checkObservations(stalled('OFF').obs, config());
      expect(names(r.violations)).to.deep.equal(['causality/firmware']);
      expect(r.violations[0]!.detail).to.match(/pi changed pump_primary to ON .* esp did not show it within 500 ms/);
    });
  });

  describe('serial integrity', function () {
    it('a seq gap is a rig fault (ERROR), never the firmware', function () {
      const tr = healthy();
      tr.dev('pi', 'hb', { thread: 'irq', depth: 0, processed: 0 }, { seq: 1000 });
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['serial-seq/rig']);
      expect(decideVerdict(r.violations).verdict).to.equal('ERROR');
    });

    it('a watchdog reset, an unannounced reboot and a traceback are firmware failures', function () {
      const tr = healthy();
      tr.dev('esp', 'wdt', { task: 'IDLE1' });
      tr.dev('esp', 'boot', { fw: 'esp', reset: 'wdt' });
      tr.dev('pi', 'boot', { fw: 'panel' });
      tr.text('pi', 'Traceback (most recent call last):');
      tr.advance(300);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal(['reboot/firmware', 'reboot/firmware', 'death-pattern/firmware']);
      expect(r.violations[0]!.detail).to.match(/esp watchdog reset/);
      expect(r.violations[1]!.detail).to.match(/pi rebooted without a power cycle/);
    });

    it('a power cycle by the harness is no violation; presses while off are not expected', function () {
      const tr = healthy();
      tr.click('PRESSURE_UP'); // queued, not processed: cut by the power-off
      tr.harness('power', 'off', { device: 'pi', reason: 'cycle' });
      tr.stopped.add('pi:irq');
      const off = tr.click('SHIM_ROD_UP', { mode: 'none' });
      tr.advance(1500);
      tr.harness('power', 'on', { device: 'pi', reason: 'cycle' });
      tr.stopped.delete('pi:irq');
      tr.dev('pi', 'boot', { fw: 'panel' });
      tr.advance(600);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal([]);
      const rows = r.windows[0]!.presses;
      expect(rows.find((p) => p.press_id === off)!.outcome).to.equal('device_off');
      expect(rows.find((p) => p.press_id === off - 1)!.outcome).to.equal('power_cut');
    });
  });

  describe('power cut with lines in flight', function () {
    it('lines the device printed just before the cut, arriving after the power-off record, still count', function () {
      const tr = healthy();
      const id = tr.click('PRESSURE_UP'); // queued
      tr.harness('power', 'off', { device: 'pi', reason: 'cycle' });
      tr.process(1); // its take and done were on the wire when the harness cut the power
      for (const th of ['irq', 'processor', 'control', 'esplink']) tr.stopped.add(`pi:${th}`);
      tr.advance(1500);
      tr.harness('power', 'on', { device: 'pi', reason: 'cycle' });
      for (const th of ['irq', 'processor', 'control', 'esplink']) tr.stopped.delete(`pi:${th}`);
      tr.dev('pi', 'boot', { fw: 'panel' });
      tr.advance(600);
      const r = checkObservations(tr.obs, config());
      expect(names(r.violations)).to.deep.equal([]);
      expect(r.windows[0]!.presses.find((p) => p.press_id === id)!.outcome).to.equal('processed');
    });

    it('what is still queued when the settle time has passed is cut, not lost', function () {
      const tr = healthy();
      const id = tr.click('PRESSURE_UP');
      tr.harness('power', 'off', { device: 'pi', reason: 'cycle' });
      for (const th of ['irq', 'processor', 'control', 'esplink']) tr.stopped.add(`pi:${th}`);
      tr.advance(400);
      tr.process(1); // printed by nobody: a take 400 ms after the cut cannot be the device's
      tr.advance(1100);
      tr.harness('power', 'on', { device: 'pi', reason: 'cycle' });
      for (const th of ['irq', 'processor', 'control', 'esplink']) tr.stopped.delete(`pi:${th}`);
      tr.dev('pi', 'boot', { fw: 'panel' });
      tr.advance(600);
      const r = checkObservations(tr.obs, config());
      expect(r.windows[0]!.presses.find((p) => p.press_id === id)!.outcome).to.equal('power_cut');
    });
  });

  describe('live monitor', function () {
    /** Replay a trace into a live log on a virtual clock, the monitor watching. */
    async function live(tr: Trace) {
      const clock = new VirtualClock(tr.obs[0]!.t - 1_000_000n);
      const log = new ObservationLog({ clock, schedule: queueMicrotask });
      const mon = new InvariantMonitor(log, config(), { tickMs: 50 });
      const seenAt: number[] = [];
      mon.engine.onViolation(() => seenAt.push(log.nextIndex));
      const w = mon.beginWindow('test 1');
      const sorted = [...tr.obs].sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.i - b.i));
      for (const o of sorted) {
        if (o.t > clock.now()) await clock.advance(Number(o.t - clock.now()) / 1e6);
        const { i: _i, ...rest } = o;
        log.append(rest);
      }
      await clock.advance(10);
      const result = await (async () => {
        const p = mon.endWindow(w);
        await clock.advance(windowSettleMs(mon.engine.config) + 50);
        return p;
      })();
      mon.close();
      return { log, mon, result, seenAt };
    }

    it('reports as it happens, records violations and windows in the log, and a re-check agrees', async function () {
      const tr = healthy();
      tr.click('PRESSURE_UP');
      for (const th of ['irq', 'processor', 'control', 'esplink']) tr.stopped.add(`pi:${th}`);
      tr.advance(1200);
      tr.dev('esp', 'hb', { thread: 'loop', depth: 0, processed: 1 }, { seq: 500 }); // and a seq gap
      tr.advance(2000);
      const { log, mon, result } = await live(tr);
      const recorded = [...log.since(0)].filter((o) => o.source === 'invariants' && o.kind === 'violation');
      expect(recorded.map((o) => o.fields!.key)).to.deep.equal(mon.violations.map((v) => v.key));
      expect(names(result.violations)).to.include.members(['heartbeat/hung', 'serial-seq/rig']);
      expect(decideVerdict(result.violations).verdict).to.equal('ERROR');
      // The hang was reported before the trace went on (the device line that came 1.2 s later).
      const hung = recorded.find((o) => /is HUNG/.test(String(o.fields!.detail)))!;
      const gap = [...log.since(0)].find((o) => o.source === 'esp' && o.seq === 500)!;
      expect(hung.i).to.be.lessThan(gap.i);
      // Offline, over the record (the monitor's own records included): the same violations.
      const off = checkObservations(log.since(0), config());
      const key = (v: Violation) => `${v.key} ${v.t} ${v.detail}`;
      expect(off.violations.map(key).sort()).to.deep.equal(mon.violations.map(key).sort());
      expect(recordedWindows(log.since(0))).to.have.length(1);
      expect(off.windows[0]!.stats).to.deep.equal(result.stats);
      expect(off.windows[0]!.presses.map((p) => p.outcome)).to.deep.equal(result.presses.map((p) => p.outcome));
    });

    it('a window with nothing recorded in it yet holds none of the run\'s earlier violations', async function () {
      const tr = healthy();
      tr.click('PRESSURE_UP', { mode: 'none' }); // no edge: a violation at press + 1 s
      tr.advance(1500);
      const { log, mon } = await live(tr);
      expect(mon.violations).to.have.length(1);
      // What a scenario asks after a short wait in which the bench printed nothing.
      const from = log.nextIndex;
      expect(mon.window(from).violations).to.deep.equal([]);
      expect(mon.window(0).violations).to.have.length(1);
    });

    it('a healthy run stays clean live as well', async function () {
      const { mon, result } = await live(healthy());
      expect(names(mon.violations)).to.deep.equal([]);
      expect(result.stats.find((s) => s.device === 'pi')!.events_processed).to.equal(3);
    });
  });

  describe('verdict', function () {
    const v = (kind: Violation['kind']): Violation => ({ invariant: 'drain', device: 'pi', t: 0n, detail: 'x', kind, at: 0, key: kind });
    it('orders ABORTED > ERROR > HUNG > FAIL > TIMEOUT > PASS', function () {
      const timeout = Object.assign(new Error('Timeout of 2000ms exceeded'), { code: 'ERR_MOCHA_TIMEOUT' });
      expect(decideVerdict([]).verdict).to.equal('PASS');
      expect(decideVerdict([], { error: timeout }).verdict).to.equal('TIMEOUT');
      expect(decideVerdict([v('firmware')], { error: timeout }).verdict).to.equal('FAIL');
      expect(decideVerdict([], { error: new ExpectationError('expected x', { expected: 'x', seen: [] }) }).verdict).to.equal('FAIL');
      expect(decideVerdict([v('firmware'), v('hung')]).verdict).to.equal('HUNG');
      expect(decideVerdict([v('hung')], { error: new RigFault('port vanished') }).verdict).to.equal('ERROR');
      expect(decideVerdict([v('firmware')], { error: new TypeError('oops') }).verdict).to.equal('ERROR');
      expect(decideVerdict([v('rig')], { interrupted: true }).verdict).to.equal('ABORTED');
      expect(decideVerdict([v('hung'), v('firmware')]).reasons).to.have.length(2);
    });
  });
});
