// A soak must not keep every press it made: the engine drops what it has judged once no window can
// ask about it. Dropping must change nothing a run reports: the same violations and the same
// window results (rows, statistics, latency) as a run that keeps everything, on a trace long
// enough for records to be dropped many times over, healthy and broken.
import { expect } from 'chai';
import { VirtualClock } from '../../../harness/core/clock.ts';
import { checkObservations, InvariantMonitor, windowSettleMs, type WindowResult } from '../../../harness/core/invariants/index.ts';
import type { Observation } from '../../../harness/core/observation.ts';
import { ObservationLog } from '../../../harness/core/observation-log.ts';
import { config, Trace } from './trace.ts';

const BUTTONS = ['PRESSURE_UP', 'PRESSURE_DOWN', 'SHIM_ROD_UP', 'PUMP_PRIMARY_ON'];

/** Bursts of presses, with a fault every so often (bounce, refused, lost, no edge, out of order, requests), and windows (tests) with gaps between them. */
function soak(bursts: number): { obs: Observation[]; windows: Array<{ from: number; to: number; name: string }> } {
  const tr = new Trace();
  const windows: Array<{ from: number; to: number; name: string }> = [];
  let from = -1;
  for (let b = 0; b < bursts; b++) {
    if (b % 10 === 0) from = tr.obs.length;
    for (let k = 0; k < 6; k++) {
      const button = BUTTONS[(b + k) % BUTTONS.length]!;
      const n = b * 6 + k;
      if (n % 97 === 13) tr.click(button, { bounces: 2 });
      else if (n % 89 === 7) tr.click(button, { mode: 'drop' });
      else if (n % 131 === 5) tr.click(button, { mode: 'silent' });
      else if (n % 151 === 11) tr.click(button, { mode: 'none' });
      else if (n % 173 === 3) tr.click(button, { cbUs: 5000 });
      else tr.click(button);
      tr.advance(3);
    }
    if (b % 37 === 20 && tr.queue.length > 2) tr.process(2, [1, 0]);
    tr.process();
    if (b % 5 === 0) tr.request();
    if (b % 53 === 9) tr.request({ queue: false });
    tr.advance(150);
    if (b % 10 === 7) windows.push({ from, to: tr.obs.length, name: `test ${windows.length + 1}` });
  }
  tr.advance(3000);
  return { obs: tr.obs, windows };
}

describe('core/invariants: pruning what is judged', function () {
  this.timeout(60_000);
  const { obs, windows } = soak(400);

  it('hil check: the same violations and window results with pruning as without, while holding a fraction of the records', function () {
    const kept = checkObservations(obs, config(), { windows, prune: false });
    const pruned = checkObservations(obs, config(), { windows, prune: true });
    expect(kept.violations.length, 'the trace has faults to find').to.be.greaterThan(5);
    expect(pruned.violations).to.deep.equal(kept.violations);
    expect(pruned.windows).to.deep.equal(kept.windows);
    expect(kept.engine.presses.length).to.equal(2400);
    expect(pruned.engine.presses.length, 'records were dropped').to.be.lessThan(kept.engine.presses.length / 4);
    expect(pruned.engine.events.length).to.be.lessThan(kept.engine.events.length / 4);
    expect(pruned.engine.requests.size).to.be.lessThan(kept.engine.requests.size / 4);
  });

  it('live monitor: the same violations and window results with pruning as without', async function () {
    const run = async (prune: boolean): Promise<{ results: WindowResult[]; violations: string[]; held: number }> => {
      const clock = new VirtualClock(obs[0]!.t - 1_000_000n);
      const log = new ObservationLog({ clock, schedule: queueMicrotask });
      const mon = new InvariantMonitor(log, config(), { tickMs: 100, prune, record: false });
      const results: WindowResult[] = [];
      const starts = new Map(windows.map((w) => [w.from, w]));
      const ends = new Map(windows.map((w) => [w.to - 1, w]));
      let open: ReturnType<InvariantMonitor['beginWindow']> | undefined;
      const pending: Array<Promise<WindowResult>> = [];
      for (const o of obs) {
        if (o.t > clock.now()) await clock.advance(Number(o.t - clock.now()) / 1e6);
        if (starts.has(o.i)) open = mon.beginWindow('w');
        const { i: _i, ...rest } = o;
        log.append(rest);
        if (ends.has(o.i) && open) {
          pending.push(mon.endWindow(open));
          open = undefined;
        }
      }
      await clock.advance(windowSettleMs(mon.engine.config) + 200);
      for (const p of pending) results.push(await p);
      mon.close();
      return { results, violations: mon.violations.map((v) => `${v.key} ${v.t} ${v.detail}`), held: mon.engine.presses.length };
    };
    const kept = await run(false);
    const pruned = await run(true);
    expect(kept.results.length).to.equal(windows.length);
    expect(pruned.violations).to.deep.equal(kept.violations);
    // Window bounds are log indices of this log (the monitor's own records shift them alike in both runs).
    expect(pruned.results).to.deep.equal(kept.results);
    expect(pruned.held).to.be.lessThan(kept.held / 4);
  });
});
