import { expect } from 'chai';
import { VirtualClock } from '../../harness/core/clock.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { runStartReadyExpectation } from '../../harness/core/ready.ts';

describe('ready at the start of a run', function () {
  const READY = /Control panel ready/;
  const setup = () => {
    const clock = new VirtualClock();
    return { clock, log: new ObservationLog({ clock, schedule: queueMicrotask }) };
  };

  it('a device already running (heartbeats, no boot line) is ready at its first heartbeat', async function () {
    const { log } = setup();
    log.append({ t: 1n, source: 'pi', kind: 'line', text: 'some state line' });
    log.append({ t: 2n, source: 'pi', kind: 'hb', text: 'HIL 9 100 hb thread=irq', fields: { thread: 'irq' } });
    const m = await log.waitFor(runStartReadyExpectation('pi', READY), { within: 10, from: 0 });
    expect(m.observation.kind).to.equal('hb');
  });

  it('a device seen booting is ready only at its ready line, not at a heartbeat before it', async function () {
    const { log, clock } = setup();
    log.append({ t: 1n, source: 'pi', kind: 'boot', text: 'HIL 1 5 boot fw=panel' });
    log.append({ t: 2n, source: 'pi', kind: 'hb', text: 'HIL 2 6 hb thread=irq' });
    log.append({ t: 3n, source: 'esp', kind: 'line', text: 'Control panel ready' });
    const waiting = log.waitFor(runStartReadyExpectation('pi', READY), { within: 1000, from: 0 });
    let done = false;
    void waiting.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done, 'ready at a heartbeat after boot').to.equal(false);
    log.append({ t: 4n, source: 'pi', kind: 'line', text: 'Control panel ready' });
    const m = await waiting;
    expect(m.observation.text).to.equal('Control panel ready');
    await clock.advance(2000);
  });
});
