import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import { INVARIANTS_SOURCE } from '../../harness/core/invariants/monitor.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { TimedSerialLog } from '../../harness/report/serial-timed-log.ts';
import { tempDirPerTest } from './helpers.ts';

describe('serial/<device>.timed.log', function () {
  const tmp = tempDirPerTest();

  it('stamps every line of each device with its host time since the run start, and marks each test window', async function () {
    const clock = new VirtualClock(5_000_000_000n);
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const startNs = clock.now();
    const timed = new TimedSerialLog(log, tmp.dir, ['pi', 'esp'], { startNs, flushMs: 200 });
    try {
      log.append({ t: startNs + 1_500_000n, source: 'pi', kind: 'line', text: 'boot' });
      await clock.advance(10);
      // The test windows as the invariant monitor records them.
      log.record(INVARIANTS_SOURCE, 'window_start', { name: 'buttons each one pressed' });
      log.append({ t: clock.now() + 250_000n, source: 'pi', kind: 'q_put', text: 'HIL 7 123456 q_put btn=UP depth=1', seq: 7, tDev: 123456 });
      log.append({ t: clock.now() + 300_000n, source: 'esp', kind: 'line', text: '=cmd|calc' });
      // Not a device: not in either file.
      log.append({ t: clock.now(), source: 'relays-a', kind: 'press', fields: { pin: 4 } });
      log.flush();
      // Batched, then on disk within flushMs without a close.
      expect(fs.readFileSync(path.join(tmp.dir, 'pi.timed.log'), 'utf8')).to.equal('');
      await clock.advance(200);
      expect(fs.readFileSync(path.join(tmp.dir, 'pi.timed.log'), 'utf8')).to.contain('boot');
      log.record(INVARIANTS_SOURCE, 'window_end', { name: 'buttons each one pressed' });
      log.append({ t: clock.now(), source: 'pi', kind: 'line', text: 'after' });
    } finally {
      timed.close();
    }
    const pi = fs.readFileSync(path.join(tmp.dir, 'pi.timed.log'), 'utf8').split('\n');
    expect(pi.slice(0, 3)).to.deep.equal([
      '       1.500  boot',
      '      10.000  ---- test start: buttons each one pressed ----',
      '      10.250  HIL 7 123456 q_put btn=UP depth=1',
    ]);
    expect(pi[3]).to.match(/^ +210\.000 {2}---- test end: buttons each one pressed ----$/);
    expect(pi[4]).to.match(/^ +\d+\.\d{3} {2}after$/);
    const esp = fs.readFileSync(path.join(tmp.dir, 'esp.timed.log'), 'utf8').split('\n');
    expect(esp.slice(0, 3)).to.deep.equal(['      10.000  ---- test start: buttons each one pressed ----', '      10.300  =cmd|calc', '     210.000  ---- test end: buttons each one pressed ----']);
  });
});
