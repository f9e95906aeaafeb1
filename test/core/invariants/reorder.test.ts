// Line order from firmware we did not write: a callback thread (edge, cb, q_put/q_drop) and a
// processor thread (q_get, done) print independently, after the operation they report, so their
// lines interleave in any order each thread's own order allows, and the processor's take (even its
// done) can be printed before the callback's q_put. Every such merge of a healthy run must PASS;
// a lost, a duplicated, or an out-of-order event must be caught, for its own reason, with ids and
// without. Everything runs on recorded times (checkObservations): no real clock.
import { expect } from 'chai';
import fc from 'fast-check';
import type { FieldValue, Observation } from '../../../harness/core/observation.ts';
import { VirtualClock } from '../../../harness/core/clock.ts';
import { checkObservations, InvariantEngine, InvariantMonitor, windowSettleMs, type CheckResult, type Violation } from '../../../harness/core/invariants/index.ts';
import { ObservationLog } from '../../../harness/core/observation-log.ts';
import { config, GPIO } from './trace.ts';

const BUTTONS = ['PRESSURE_UP', 'SHIM_ROD_UP', 'PRESSURE_DOWN', 'PUMP_PRIMARY_ON'];
const MS = 1_000_000n;
const US = 1_000n;
const T0 = 1_000_000_000n;
const PRESS_GAP = 40n * MS;
const LINK = 1n * MS;
const DEV_OFFSET_US = 7_000_000;

interface Line {
  thread: 'cb' | 'proc';
  kind: string;
  fields: Record<string, FieldValue>;
  /** Press this line belongs to. */
  k: number;
  /** Earliest host print time (callback lines: the press's timing). */
  base?: bigint;
  /** Index in the callback thread's list that must have been printed before this line. */
  after?: number;
  /** A q_put line: the index of the callback line after which its put was done. */
  op?: number;
}

type Fault = 'none' | 'lost-in-callback' | 'lost-in-queue' | 'flushed-in-queue' | 'skipped-in-queue' | 'two-puts' | 'taken-twice' | 'out-of-order';

interface Scenario {
  presses: number;
  /** Per press: extra raw edges (bounce), and whether the firmware prints cb before q_put. */
  bounces: number[];
  cbFirst: boolean[];
  ids: boolean;
  fault: Fault;
  /** Which press the fault hits (mod presses). */
  victim: number;
  /** Interleaving choices: true = the processor prints next, when it may. */
  merge: boolean[];
}

/** The two threads' lines for a scenario, before merging. */
function threads(s: Scenario): { cb: Line[]; proc: Line[] } {
  const cb: Line[] = [];
  const proc: Line[] = [];
  const victim = s.victim % s.presses;
  const idf = (n: number): Record<string, FieldValue> => (s.ids ? { id: n } : {});
  let nextId = 100;
  const puts: Array<{ k: number; btn: string; id: number; opAt: number }> = [];
  for (let k = 0; k < s.presses; k++) {
    const btn = BUTTONS[k % BUTTONS.length]!;
    const pin = GPIO[btn]!;
    const press = T0 + BigInt(k) * PRESS_GAP;
    let at = press + 6n * MS;
    const push = (kind: string, fields: Record<string, FieldValue>): void => {
      cb.push({ thread: 'cb', kind, fields, k, base: at });
      at += 20n * US;
    };
    push('edge', { pin, level: 0 });
    for (let b = 0; b < s.bounces[k]!; b++) {
      push('edge', { pin, level: 1 });
      push('edge', { pin, level: 0 });
    }
    // The put itself happens here, after the edges are printed: the processor may take it at once.
    const events = s.fault === 'two-puts' && k === victim ? 2 : 1;
    for (let n = 0; n < events; n++) {
      const id = nextId++;
      const opAt = cb.length - 1;
      const lost = s.fault === 'lost-in-callback' && k === victim;
      const put = (): void => {
        if (lost) return;
        push('q_put', { btn, depth: 1, cap: 100, ...idf(id) });
        cb[cb.length - 1]!.op = opAt;
      };
      if (s.cbFirst[k]) {
        push('cb', { btn, dur_us: 40 });
        put();
      } else {
        put();
        push('cb', { btn, dur_us: 40 });
      }
      if (!lost) puts.push({ k, btn, id, opAt });
    }
    at = press + 34n * MS;
    push('edge', { pin, level: 1 });
  }
  // The processor takes in put order (FIFO), one event after another.
  const order = puts.map((_, j) => j);
  if (s.fault === 'out-of-order' && puts.length > 1) {
    const j = Math.min(victim, puts.length - 2);
    [order[j], order[j + 1]] = [order[j + 1]!, order[j]!];
  }
  for (const j of order) {
    const p = puts[j]!;
    if ((s.fault === 'lost-in-queue' || s.fault === 'flushed-in-queue') && j === puts.length - 1) continue;
    // Discarded from the queue ("stale commands flushed"): the processor goes on with the next one.
    if (s.fault === 'skipped-in-queue' && j === skipped(s, puts.length)) continue;
    // A take can only follow the put it takes (and, taken out of order, the later put too).
    const after = Math.max(p.opAt, ...order.slice(0, order.indexOf(j)).map((x) => puts[x]!.opAt));
    proc.push({ thread: 'proc', kind: 'q_get', fields: { btn: p.btn, depth: 0, wait_us: 100, ...idf(p.id) }, k: p.k, after });
    proc.push({ thread: 'proc', kind: 'done', fields: { btn: p.btn, dur_us: 1000, ...idf(p.id) }, k: p.k });
    if (s.fault === 'taken-twice' && p.k === victim) {
      proc.push({ thread: 'proc', kind: 'q_get', fields: { btn: p.btn, depth: 0, wait_us: 100, ...idf(p.id) }, k: p.k });
      proc.push({ thread: 'proc', kind: 'done', fields: { btn: p.btn, dur_us: 1000, ...idf(p.id) }, k: p.k });
    }
  }
  // Emptied without a line, and then the processor says so on its heartbeat.
  if (s.fault === 'flushed-in-queue') proc.push({ thread: 'proc', kind: 'hb', fields: { thread: 'processor', depth: 0 }, k: s.presses - 1, after: cb.length - 1 });
  return { cb, proc };
}

/** The put a `skipped-in-queue` scenario discards: never the last, so a later one is taken after it. */
const skipped = (s: Scenario, puts: number): number => Math.min(s.victim % s.presses, puts - 2);

/** Merge the threads as the choices say (each thread's own order kept), stamp times, add the harness's press records. */
export function observations(s: Scenario): Observation[] {
  const { cb, proc } = threads(s);
  const merged: Line[] = [];
  let a = 0;
  let b = 0;
  let c = 0;
  let takes = 0;
  while (a < cb.length || b < proc.length) {
    const procMay = b < proc.length && (proc[b]!.after === undefined || proc[b]!.after! < a);
    const wantProc = s.merge[c++ % Math.max(1, s.merge.length)] ?? false;
    if (procMay && (wantProc || a >= cb.length)) {
      const l = proc[b++]!;
      // A take's depth is the queue's real size after it: the puts done so far (a put is done once
      // the callback line before it is printed) less the takes.
      if (l.kind === 'q_get') merged.push({ ...l, fields: { ...l.fields, depth: Math.max(0, cb.filter((x) => x.op !== undefined && x.op < a).length - ++takes) } });
      else merged.push(l);
    } else merged.push(cb[a++]!);
  }
  const raw: Array<Omit<Observation, 'i'>> = [];
  for (let k = 0; k < s.presses; k++) {
    const button = BUTTONS[k % BUTTONS.length]!;
    const press = T0 + BigInt(k) * PRESS_GAP;
    raw.push({ t: press, source: 'buttons', kind: 'press', fields: { press_id: k + 1, button, hold_ms: 30 } });
    raw.push({ t: press + 30n * MS, source: 'buttons', kind: 'release', fields: { press_id: k + 1, button } });
  }
  raw.push({ t: T0 - 10n * MS + LINK, source: 'pi', kind: 'boot', fields: { fw: 'panel' }, seq: 1, tDev: devUs(T0 - 10n * MS) });
  let printed = T0;
  let seq = 1;
  for (const l of merged) {
    printed = l.base !== undefined && l.base > printed + 5n * US ? l.base : printed + 5n * US;
    seq++;
    raw.push({ t: printed + LINK, source: 'pi', kind: l.kind, fields: l.fields, seq, tDev: devUs(printed), text: `HIL ${seq} ${devUs(printed)} ${l.kind}` });
  }
  // Time passes after the last line, so every deadline (tolerance, drain) is judged.
  raw.push({ t: printed + 3000n * MS, source: 'harness', kind: 'note', fields: { what: 'end' } });
  return raw.map((o, j) => ({ o, j })).sort((x, y) => (x.o.t < y.o.t ? -1 : x.o.t > y.o.t ? 1 : x.j - y.j)).map(({ o }, i) => ({ ...o, i }));
}

const devUs = (hostNs: bigint): number => Number(hostNs / 1000n) + DEV_OFFSET_US;

const scenario = (fault: fc.Arbitrary<Fault>, ids: fc.Arbitrary<boolean>): fc.Arbitrary<Scenario> =>
  fc.integer({ min: 2, max: 8 }).chain((presses) =>
    fc.record({
      presses: fc.constant(presses),
      bounces: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: presses, maxLength: presses }),
      cbFirst: fc.array(fc.boolean(), { minLength: presses, maxLength: presses }),
      ids,
      fault,
      victim: fc.nat({ max: presses - 1 }),
      merge: fc.array(fc.boolean(), { minLength: 1, maxLength: 80 }),
    }),
  );

const check = (s: Scenario): CheckResult => checkObservations(observations(s), config());
const names = (vs: readonly Violation[]): string[] => vs.map((v) => `${v.invariant}/${v.kind}`);

describe('core/invariants: any order each firmware thread allows', function () {
  for (const ids of [false, true]) {
    const label = ids ? 'with id=' : 'without ids';

    it(`healthy: every interleaving passes, and every press is one processed event (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('none'), fc.constant(ids)), (s) => {
          const r = check(s);
          expect(names(r.violations), JSON.stringify(observations(s).map((o) => `${o.kind} ${JSON.stringify(o.fields)}`))).to.deep.equal([]);
          const rows = r.windows[0]!.presses;
          expect(rows.map((p) => [p.outcome, p.events])).to.deep.equal(rows.map(() => ['processed', 1]));
          r.engine.presses.forEach((p, k) => expect(p.edges).to.equal(1 + s.bounces[k]!));
        }),
        { numRuns: 300 },
      );
    });

    it(`a callback that neither queues nor refuses is a lost event, of that press (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('lost-in-callback'), fc.constant(ids)), (s) => {
          const r = check(s);
          expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
          expect(r.violations[0]!.pressId).to.equal((s.victim % s.presses) + 1);
          expect(r.violations[0]!.detail).to.match(/it vanished/);
        }),
        { numRuns: 150 },
      );
    });

    it(`an event queued and never taken leaves the queue not draining (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('lost-in-queue'), fc.constant(ids)), (s) => {
          const r = check(s);
          expect(names(r.violations)).to.deep.equal(['drain/hung']);
          expect(r.violations[0]!.pressId).to.equal(s.presses);
        }),
        { numRuns: 150 },
      );
    });

    it(`an event emptied from the queue, as the device's own depth then says, is lost, not a stopped queue (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('flushed-in-queue'), fc.constant(ids)), (s) => {
          // One heartbeat in a trace that then ends: its thread's silence is not what this judges.
          const r = checkObservations(observations(s), config({ devices: { pi: { heartbeat: false } } }));
          expect(names(r.violations), r.violations.map((v) => v.detail).join('\n')).to.deep.equal(['exactly-once/firmware']);
          expect(r.violations[0]!.pressId).to.equal(s.presses);
          expect(r.violations[0]!.detail).to.match(/never taken: pi reported its queue at depth 0 .*lost from the queue/);
        }),
        { numRuns: 150 },
      );
    });

    it(`an event the queue went past and never took is lost, not a stopped queue or a FIFO break (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('skipped-in-queue'), fc.constant(ids)), (s) => {
          const r = check(s);
          const victim = skipped(s, s.presses) + 1;
          expect(names(r.violations), r.violations.map((v) => v.detail).join('\n')).to.deep.equal(['exactly-once/firmware']);
          expect(r.violations[0]!.pressId).to.equal(victim);
          expect(r.violations[0]!.detail).to.match(/never taken: .*lost from the queue/);
          const rows = r.windows[0]!.presses;
          expect(rows.map((p) => p.outcome)).to.deep.equal(rows.map((p) => (p.press_id === victim ? 'lost' : 'processed')));
        }),
        { numRuns: 150 },
      );
    });

    it(`one press queued twice is a duplicated event (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('two-puts'), fc.constant(ids)), (s) => {
          const r = check(s);
          expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
          expect(r.violations[0]!.pressId).to.equal((s.victim % s.presses) + 1);
          expect(r.violations[0]!.detail).to.match(/second event .*one press must be one event/);
        }),
        { numRuns: 150 },
      );
    });

    it(`one event taken twice is caught (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('taken-twice'), fc.constant(ids)), (s) => {
          const r = check(s);
          if (ids) {
            expect(names(r.violations)).to.deep.equal(['exactly-once/firmware']);
            expect(r.violations[0]!.detail).to.match(/again .*processed twice/);
          } else {
            // Without ids a second take of a key is the same lines as taking that key's next event
            // early: it is caught as a take nobody queued, and may also show as out of order.
            expect(names(r.violations)).to.include('exactly-once/firmware');
            expect(names(r.violations).every((n) => n === 'exactly-once/firmware' || n === 'order/firmware')).to.equal(true);
            expect(r.violations.find((v) => v.invariant === 'exactly-once')!.detail).to.match(/no \w+ event was queued/);
          }
        }),
        { numRuns: 150 },
      );
    });

    it(`taking a later event first breaks FIFO, whatever line printed first (${label})`, function () {
      fc.assert(
        fc.property(scenario(fc.constant<Fault>('out-of-order'), fc.constant(ids)), (s) => {
          const r = check(s);
          expect(names(r.violations)).to.deep.equal(['order/firmware']);
          expect(r.violations[0]!.detail).to.match(/not FIFO/);
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('core/invariants: reorder tolerance', function () {
  const only = (kind: string, fields: Record<string, FieldValue>, t: bigint, seq: number): Omit<Observation, 'i'> => ({ t, source: 'pi', kind, fields, seq, tDev: devUs(t - LINK) });
  const log = (xs: Array<Omit<Observation, 'i'>>): Observation[] => xs.map((o, i) => ({ ...o, i }));

  it('a take with no q_put is judged only once the tolerance has closed, at the take', function () {
    const get = T0 + 5n * MS;
    const obs = log([only('boot', {}, T0, 1), only('q_get', { btn: 'PRESSURE_UP', depth: 0 }, get, 2), only('done', { btn: 'PRESSURE_UP', dur_us: 10 }, get + MS, 3)]);
    const engine = new InvariantEngine(config());
    for (const o of obs) engine.observe(o);
    const settle = 50n * MS;
    engine.tick(get + 250n * MS + settle); // the tolerance has not closed yet: the q_put may be on its way
    expect(engine.violations).to.deep.equal([]);
    engine.tick(get + 251n * MS + settle);
    expect(names(engine.violations)).to.deep.equal(['exactly-once/firmware']);
    expect(engine.violations[0]!.t).to.equal(get);
    expect(engine.violations[0]!.detail).to.match(/took PRESSURE_UP from its queue at #1 but no PRESSURE_UP event was queued within 250 ms/);
    // The same take with its q_put 200 ms late is one healthy event.
    const put = only('q_put', { btn: 'PRESSURE_UP', depth: 1, cap: 100 }, get + 200n * MS, 4);
    const fine = checkObservations(log([...obs.slice(0, 3), put, { t: get + 3000n * MS, source: 'harness', kind: 'note', fields: {} }]), config());
    expect(names(fine.violations)).to.deep.equal([]);
    expect(fine.engine.events.map((e) => e.outcome)).to.deep.equal(['processed']);
  });

  it('a tolerance that is not a number of ms is a config error naming the field', function () {
    expect(() => config({ reorderToleranceMs: -1 })).to.throw(/invariants.reorderToleranceMs: expected a number of ms, 0 or more, found -1/);
  });
});

describe('core/invariants: a firmware that prints no queue lines', function () {
  it('edge, cb and done with no q_put/q_get (examples/dut/echo-panel.py) are not lost or doubled events', function () {
    const obs: Array<Omit<Observation, 'i'>> = [{ t: T0, source: 'pi', kind: 'boot', fields: {}, seq: 1, tDev: devUs(T0) }];
    let seq = 1;
    const line = (kind: string, fields: Record<string, FieldValue>, t: bigint): void => {
      obs.push({ t: t + LINK, source: 'pi', kind, fields, seq: ++seq, tDev: devUs(t) });
    };
    for (let k = 0; k < 3; k++) {
      const press = T0 + 10n * MS + BigInt(k) * 200n * MS;
      obs.push({ t: press, source: 'buttons', kind: 'press', fields: { press_id: k + 1, button: 'PRESSURE_UP', hold_ms: 30 } });
      line('edge', { pin: GPIO.PRESSURE_UP!, level: 0 }, press + 6n * MS);
      line('cb', { btn: 'PRESSURE_UP', dur_us: 30 }, press + 6n * MS + 40n * US);
      line('done', { btn: 'PRESSURE_UP', dur_us: 60 }, press + 6n * MS + 60n * US);
      obs.push({ t: press + 30n * MS, source: 'buttons', kind: 'release', fields: { press_id: k + 1, button: 'PRESSURE_UP' } });
      line('edge', { pin: GPIO.PRESSURE_UP!, level: 1 }, press + 34n * MS);
    }
    obs.push({ t: T0 + 3000n * MS, source: 'harness', kind: 'note', fields: {} });
    const r = checkObservations(obs.map((o, i) => ({ ...o, i })), config());
    expect(names(r.violations)).to.deep.equal([]);
  });
});

describe('core/invariants: live and offline agree on reordered lines', function () {
  /** Replay observations into a live log on a virtual clock, the monitor watching; then re-check the record offline. */
  async function both(obs: Observation[]): Promise<{ live: string[]; offline: string[] }> {
    const clock = new VirtualClock(obs[0]!.t - MS);
    const log = new ObservationLog({ clock, schedule: queueMicrotask });
    const mon = new InvariantMonitor(log, config(), { tickMs: 50 });
    const w = mon.beginWindow('test');
    for (const o of obs) {
      if (o.t > clock.now()) await clock.advance(Number(o.t - clock.now()) / 1e6);
      const { i: _i, ...rest } = o;
      log.append(rest);
    }
    const p = mon.endWindow(w);
    await clock.advance(windowSettleMs(mon.engine.config) + 50);
    const result = await p;
    mon.close();
    const off = checkObservations(log.since(0), config());
    const key = (v: Violation): string => `${v.key} ${v.t} ${v.detail}`;
    expect(off.windows[0]!.violations.map(key).sort()).to.deep.equal(result.violations.map(key).sort());
    return { live: mon.violations.map(key).sort(), offline: off.violations.map(key).sort() };
  }

  it('the same violations, healthy or broken, with ids and without', async function () {
    await fc.assert(
      fc.asyncProperty(scenario(fc.constantFrom<Fault>('none', 'lost-in-callback', 'two-puts', 'taken-twice', 'out-of-order'), fc.boolean()), async (s) => {
        const { live, offline } = await both(observations(s));
        expect(live).to.deep.equal(offline);
        if (s.fault !== 'none') expect(live).to.not.deep.equal([]);
      }),
      { numRuns: 40 },
    );
  });
});
