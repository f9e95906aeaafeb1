import { expect } from 'chai';
import { VirtualClock, flushMicrotasks } from '../../harness/core/clock.ts';
import { DeathWatch, deathPatternsByDevice, DEFAULT_DEATH_PATTERNS } from '../../harness/core/death-watch.ts';
import { resolveInvariantConfig } from '../../harness/core/invariants/types.ts';
import { DeathPatternError } from '../../harness/core/errors.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';

describe('DeathWatch', function () {
  function setup() {
    const clock = new VirtualClock();
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const line = (source: string, text: string, kind = 'line') => log.append({ t: clock.now(), source, kind, text });
    return { clock, log, line };
  }

  it('fails pending waits the moment a forbidden line appears, and records a violation', async function () {
    const { log, line } = setup();
    log.setSourceInfo('pi', { rawLog: 'reports/x/serial/pi.log' });
    const watch = new DeathWatch(log);
    const waiting = log.waitFor({ topic: 'pi', text: 'never' }, { within: 60_000 }).catch((e: unknown) => e);
    line('pi', 'Traceback (most recent call last):');
    const e = (await waiting) as DeathPatternError;
    expect(e).to.be.instanceOf(DeathPatternError);
    expect(e.message).to.match(/^pi printed a forbidden line \(\/Traceback.*\) at #0: Traceback \(most recent call last\):; full log: reports\/x\/serial\/pi\.log$/);
    await flushMicrotasks();
    const v = [...log.since(0)].find((o) => o.kind === 'violation')!;
    expect(v.fields).to.include({ invariant: 'death-pattern', device: 'pi' });
    expect(watch.take()).to.have.length(1);
    expect(watch.take()).to.have.length(0);
  });

  it('knows the ESP watchdog text, the wdt telemetry kind and per-device extra patterns', async function () {
    const { log, line } = setup();
    const common = [/Guru Meditation Error/, /task_wdt: Task watchdog got triggered/];
    const watch = new DeathWatch(log, { patterns: { '*': common, esp: [...common, /Brownout detector/] } });
    line('esp', 'E (12345) task_wdt: Task watchdog got triggered. The following tasks did not reset the watchdog in time:');
    line('esp', 'HIL 9 100 wdt', 'wdt');
    line('esp', 'Brownout detector was triggered');
    line('pi', 'Brownout detector was triggered'); // only for esp
    line('pi', 'all good');
    await flushMicrotasks();
    expect(watch.take().map((d) => d.source)).to.deep.equal(['esp', 'esp', 'esp']);
  });

  it('the live watch scans each device with the list the death-pattern rule judges by: defaults, the rig\'s, the invariant limits\'', async function () {
    const { log, line } = setup();
    const devices = { pi: { deathPatterns: [/FATAL: queue corrupted/] }, esp: {} };
    const limits = { devices: { pi: { deathPatterns: [/assert failed/] } } };
    const patterns = deathPatternsByDevice(devices, limits);
    const judged = resolveInvariantConfig({ buttons: {}, devices }, limits).devices;
    expect(patterns.pi).to.deep.equal(judged.pi!.deathPatterns);
    expect(patterns.esp).to.deep.equal(judged.esp!.deathPatterns);
    expect(patterns['*']).to.deep.equal(DEFAULT_DEATH_PATTERNS);
    const watch = new DeathWatch(log, { patterns });
    line('pi', 'assert failed: depth <= 8'); // only in the invariant limits: the watch missed it before
    line('pi', 'FATAL: queue corrupted');
    line('esp', 'assert failed: x'); // not esp's
    line('setup', 'Segmentation fault'); // any other source: the defaults
    await flushMicrotasks();
    expect(watch.take().map((d) => `${d.source} ${d.pattern}`)).to.deep.equal(['pi /assert failed/', 'pi /FATAL: queue corrupted/', 'setup /Segmentation fault|core dumped/']);
  });
});
