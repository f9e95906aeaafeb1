import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import { INVARIANTS_SOURCE } from '../../harness/core/invariants/monitor.ts';
import type { PressRow } from '../../harness/core/invariants/report.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { TraceWriter } from '../../harness/report/trace.ts';
import { tempDirPerTest, validTrace } from './helpers.ts';

describe('trace.json (Chrome/Perfetto trace events)', function () {
  const tmp = tempDirPerTest();

  it('has the host, one process per device, a track per firmware thread, counters, serial lines, test slices and device spans with their clock bound', async function () {
    const clock = new VirtualClock(5_000_000_000n);
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const startNs = clock.now();
    const file = path.join(tmp.dir, 'trace.json');
    const trace = new TraceWriter(log, file, { startNs, devices: ['pi', 'esp'], flushMs: 100 });
    const ms = (x: number) => startNs + BigInt(Math.round(x * 1e6));
    log.append({ t: ms(1), source: 'pi', kind: 'hb', text: 'HIL 1 100 hb thread=irq depth=0', fields: { thread: 'irq', depth: 0 }, seq: 1, tDev: 100 });
    log.append({ t: ms(2), source: 'pi', kind: 'hb', text: 'HIL 2 200 hb thread=processor depth=0', fields: { thread: 'processor', depth: 0 }, seq: 2, tDev: 200 });
    log.append({ t: ms(3), source: 'esp', kind: 'hb', text: 'HIL 1 50 hb thread=loop depth=0', fields: { thread: 'loop', depth: 0 }, seq: 1, tDev: 50 });
    log.record(INVARIANTS_SOURCE, 'window_start', { name: 'buttons one press' });
    log.append({ t: ms(10), source: 'buttons', kind: 'press', fields: { press_id: 1, button: 'UP', hold_ms: 30 } });
    log.append({ t: ms(12), source: 'pi', kind: 'q_put', text: 'HIL 3 1500 q_put btn=UP depth=1 cap=100', fields: { btn: 'UP', depth: 1, cap: 100 }, seq: 3, tDev: 1500 });
    log.append({ t: ms(13), source: 'pi', kind: 'q_drop', text: 'HIL 4 1600 q_drop btn=UP depth=100 cap=100', fields: { btn: 'UP', depth: 100, cap: 100 }, seq: 4, tDev: 1600 });
    log.append({ t: ms(15), source: 'pi', kind: 'q_get', text: 'HIL 5 4000 q_get btn=UP depth=0', fields: { btn: 'UP', depth: 0 }, seq: 5, tDev: 4000 });
    log.append({ t: ms(16), source: 'pi', kind: 'line', text: '⚡ Queued: UP "quoted"' });
    log.append({ t: ms(40), source: 'buttons', kind: 'release', fields: { press_id: 1, button: 'UP' } });
    log.append({ t: ms(41), source: 'power', kind: 'off', fields: { device: 'pi', reason: 'cycle' } });
    log.append({ t: ms(45), source: 'http', kind: 'request', fields: { request_id: 'h1', device: 'esp', method: 'POST', path: '/api/log' } });
    log.append({ t: ms(60), source: 'http', kind: 'response', fields: { request_id: 'h1', device: 'esp', status: 202, ms: 15 } });
    log.record(INVARIANTS_SOURCE, 'violation', { invariant: 'callback-latency', device: 'pi', detail: 'over 1 ms' });
    log.flush();
    // Written as it goes: after flushMs the file already opens as a trace, without its `]`.
    await clock.advance(100);
    expect(fs.readFileSync(file, 'utf8').trimEnd().endsWith(']')).to.equal(false);
    expect(validTrace(file).some((e) => e.name === 'queue depth')).to.equal(true);
    log.record(INVARIANTS_SOURCE, 'window_end', { name: 'buttons one press' });
    const press: PressRow = {
      press_id: 1, device: 'pi', button: 'UP', gpio: 17, press_t: ms(10), release_t: ms(40), events: 1, outcome: 'processed',
      edge_us: 1000, cb_us: 1900, queued_us: 1500, taken_us: 4000, done_us: 9000,
      edge_host: { t: ms(11), errNs: 250_000 }, cb_host: { t: ms(11.9), errNs: 250_000 }, queued_host: { t: ms(11.5), errNs: 250_000 },
      taken_host: { t: ms(14), errNs: 250_000 }, done_host: { t: ms(19), errNs: 250_000 },
    };
    trace.addTestRows('buttons one press', [press], []);
    trace.close();

    const events = validTrace(file);
    expect(fs.readFileSync(file, 'utf8').trimEnd().endsWith(']')).to.equal(true);
    const meta = (name: string) => events.filter((e) => e.ph === 'M' && e.name === name).map((e) => [e.pid, e.tid, e.args?.name]);
    expect(meta('process_name')).to.deep.equal([[1, 0, 'host (harness)'], [2, 0, 'device pi'], [3, 0, 'device esp']]);
    const threads = meta('thread_name');
    for (const t of ['thread irq', 'thread processor', 'callback', 'queue', 'processor', 'console']) expect(threads.filter((x) => x[0] === 2 && x[2] === t), t).to.have.length(1);
    expect(threads.filter((x) => x[0] === 3 && x[2] === 'thread loop')).to.have.length(1);
    // Heartbeats on their own thread's track.
    const irq = threads.find((x) => x[0] === 2 && x[2] === 'thread irq')![1];
    expect(events.filter((e) => e.name === 'heartbeat' && e.pid === 2 && e.tid === irq)).to.have.length(1);
    // Depth counter at every sample (two heartbeats, put, refusal, take on pi), with the capacity where given.
    expect(events.filter((e) => e.ph === 'C' && e.pid === 2).map((e) => [e.ts, e.args])).to.deep.equal([
      [1000, { depth: 0 }], [2000, { depth: 0 }], [12000, { depth: 1, capacity: 100 }], [13000, { depth: 100, capacity: 100 }], [15000, { depth: 0 }],
    ]);
    // Serial lines as instants with their text.
    const serial = events.filter((e) => e.cat === 'serial');
    expect(serial).to.have.length(7);
    expect(serial.find((e) => e.args?.text === '⚡ Queued: UP "quoted"')!.ts).to.equal(16000);
    // The test, the press and the request as host slices.
    const slice = (name: string) => events.find((e) => e.ph === 'X' && e.name === name)!;
    expect([slice('buttons one press').pid, slice('buttons one press').ts]).to.deep.equal([1, 0]);
    expect([slice('press UP').ts, slice('press UP').dur]).to.deep.equal([10000, 30000]);
    expect([slice('POST /api/log').ts, slice('POST /api/log').dur]).to.deep.equal([45000, 15000]);
    expect(events.filter((e) => e.name === 'power off pi')).to.have.length(1);
    expect(events.filter((e) => e.name === 'refused (queue full)' && e.pid === 2)).to.have.length(1);
    expect(events.filter((e) => e.name === 'violation: callback-latency' && e.pid === 2)).to.have.length(1);
    // Device spans on the host clock, with the mapping's bound and the device's own times.
    const cb = slice('callback press 1 UP');
    expect([cb.pid, cb.ts, cb.dur, cb.args?.err_us, cb.args?.dev_dur_us]).to.deep.equal([2, 11000, 900, 250, 900]);
    expect(slice('processing press 1 UP').args).to.include({ dev_from_us: 4000, dev_to_us: 9000, err_us: 250 });
    const queued = events.filter((e) => e.name === 'queued press 1 UP');
    expect(queued.map((e) => [e.ph, e.ts, e.id])).to.deep.equal([['b', 11500, 'pi:1'], ['e', 14000, 'pi:1']]);
  });

  it('the schema check refuses what the viewers cannot load', function () {
    const bad = path.join(tmp.dir, 'bad.json');
    for (const events of [[{ name: 'x', ph: 'X', ts: 1, pid: 1, tid: 1 }], [{ name: 'x', ph: 'C', ts: 1, pid: 1, tid: 1, args: { depth: 'three' } }], [{ name: 'x', ph: 'Q', ts: 1, pid: 1, tid: 1 }], [{ ph: 'i', ts: 1, pid: 1, tid: 1 }]]) {
      fs.writeFileSync(bad, JSON.stringify(events));
      expect(() => validTrace(bad)).to.throw(/not a valid trace/);
    }
  });
});
