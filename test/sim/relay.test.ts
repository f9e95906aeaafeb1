import assert from 'node:assert/strict';
import { GroundTruthLog, type TruthRecord } from '../../harness/sim/ground-truth.ts';
import { mulberry32, RelayChannel, RelayModule } from '../../harness/sim/relay.ts';

// The relay uses real timers (setTimeout) but stamps every contact change with its intended host
// time. Most tests drive the coil with a timestamp in the recent past, so every contact change is
// already due and arrives on the first timer tick: the assertions are on intended times, exact,
// and do not depend on how loaded the machine is. One test checks delivery against the wall clock,
// with a wide margin.

const MS = 1_000_000n;
const now = (): bigint => process.hrtime.bigint();

interface Edge {
  closed: boolean;
  t: bigint;
  bounce: boolean;
  wall: bigint;
}

function makeChannel(seed: number, activeLow = true, truth?: GroundTruthLog): { ch: RelayChannel; edges: Edge[] } {
  const edges: Edge[] = [];
  const ch = new RelayChannel({
    name: 'relay:T',
    activeLow,
    seed,
    truth,
    onContact: (closed, t, bounce) => edges.push({ closed, t, bounce, wall: now() }),
  });
  return { ch, edges };
}

/** Wait (deadline, not a fixed sleep) until every channel has delivered its pending changes. */
async function settled(chs: RelayChannel[], ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (chs.some((c) => !c.settled)) {
    if (Date.now() > end) throw new Error(`relay channels not settled within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Edges relative to t0, in ms with ns precision, for comparisons and messages. */
const rel = (edges: Edge[], t0: bigint): string[] =>
  edges.map((e) => `${e.closed ? 'C' : 'O'}${e.bounce ? '~' : ''}@${Number(e.t - t0) / 1e6}`);

describe('RelayChannel', function () {
  const channels: RelayChannel[] = [];
  afterEach(() => {
    for (const c of channels.splice(0)) c.dispose();
  });

  it('makes 5–8 ms after the coil energises, then 0–3 bounce pairs within 1.5 ms, ending closed', async function () {
    const t0 = now() - 50n * MS;
    const runs = Array.from({ length: 200 }, (_v, seed) => makeChannel(seed + 1));
    for (const r of runs) {
      channels.push(r.ch);
      r.ch.drive(0, t0);
      assert.equal(r.ch.coilOn, true);
    }
    await settled(runs.map((r) => r.ch));
    const bounceCounts = new Set<number>();
    for (const { ch, edges } of runs) {
      const [make, ...train] = edges;
      assert.ok(make, 'a make');
      assert.equal(make.closed, true);
      assert.equal(make.bounce, false);
      const operate = make.t - t0;
      assert.ok(operate >= 5n * MS && operate <= 8n * MS, `operate ${Number(operate) / 1e6} ms: ${rel(edges, t0).join(' ')}`);
      assert.equal(train.length % 2, 0, `bounces come in open/close pairs: ${rel(edges, t0).join(' ')}`);
      assert.ok(train.length <= 6);
      bounceCounts.add(train.length / 2);
      train.forEach((e, i) => {
        assert.equal(e.bounce, true);
        assert.equal(e.closed, i % 2 === 1, 'open, close, open, close…');
        assert.ok(e.t - make.t > 0n && e.t - make.t <= 1_500_000n, `bounce within 1.5 ms: ${rel(edges, t0).join(' ')}`);
      });
      for (let i = 1; i < edges.length; i++) assert.ok((edges[i] as Edge).t > (edges[i - 1] as Edge).t, 'in time order');
      assert.equal(ch.isClosed, true);
    }
    assert.deepEqual([...bounceCounts].sort(), [0, 1, 2, 3], 'every bounce count occurs over 200 seeds');
  });

  it('opens 3–5 ms after the coil releases, without bounce', async function () {
    const t0 = now() - 100n * MS;
    const runs = Array.from({ length: 50 }, (_v, seed) => makeChannel(1000 + seed));
    for (const r of runs) {
      channels.push(r.ch);
      r.ch.drive(0, t0);
    }
    await settled(runs.map((r) => r.ch));
    const t1 = t0 + 20n * MS;
    for (const r of runs) r.ch.drive(1, t1);
    await settled(runs.map((r) => r.ch));
    for (const { ch, edges } of runs) {
      const last = edges.at(-1);
      assert.ok(last);
      assert.equal(last.closed, false);
      assert.equal(last.bounce, false);
      const release = last.t - t1;
      assert.ok(release >= 3n * MS && release <= 5n * MS, `release ${Number(release) / 1e6} ms`);
      assert.equal(ch.isClosed, false);
    }
  });

  it('delivers on the wall clock no earlier than intended (bounces may ride along early by ≤ 1.5 ms)', async function () {
    const { ch, edges } = makeChannel(7);
    channels.push(ch);
    const t0 = now();
    ch.drive(0, t0);
    await settled([ch]);
    const t1 = now();
    ch.drive(1, t1);
    await settled([ch]);
    for (const e of edges) {
      const early = e.t - e.wall;
      if (e.bounce) assert.ok(early <= 1_500_000n, `bounce delivered ${Number(early) / 1e6} ms early`);
      else assert.ok(e.wall >= e.t, `edge delivered ${Number(early) / 1e6} ms before its time`);
      // A loaded 2-core box can delay a timer a lot; this only catches a lost timer.
      assert.ok(e.wall - e.t < 250n * MS, `edge delivered ${Number(e.wall - e.t) / 1e6} ms late`);
    }
    const make = edges[0];
    assert.ok(make && make.t - t0 >= 5n * MS && make.t - t0 <= 8n * MS);
    const brk = edges.at(-1);
    assert.ok(brk && !brk.closed && brk.t - t1 >= 3n * MS && brk.t - t1 <= 5n * MS);
  });

  it('reproduces the same contact times from the same seed, and different ones from another', async function () {
    const t0 = now() - 200n * MS;
    const a = makeChannel(42);
    const b = makeChannel(42);
    const c = makeChannel(43);
    for (const r of [a, b, c]) {
      channels.push(r.ch);
    }
    // Each drive must see the contact state of the previous edges, so run the script step by step.
    for (const r of [a, b, c]) {
      r.ch.drive(0, t0);
      await settled([r.ch]);
      r.ch.drive(1, t0 + 30n * MS);
      await settled([r.ch]);
      r.ch.drive(0, t0 + 60n * MS);
      await settled([r.ch]);
    }
    assert.deepEqual(rel(a.edges, t0), rel(b.edges, t0));
    assert.notDeepEqual(rel(a.edges, t0), rel(c.edges, t0));
    // A shared PRNG can be injected instead of a seed.
    const shared = mulberry32(42);
    const d = new RelayChannel({ name: 'relay:D', activeLow: true, seed: shared, onContact: () => undefined });
    channels.push(d);
    assert.equal(d.settled, true);
  });

  it('a release whose time is after the make keeps the make, even when the make has not been delivered yet (a busy host)', async function () {
    const { ch, edges } = makeChannel(5);
    channels.push(ch);
    // Both drives reach the channel before its timer has delivered anything, as when the host
    // handed the board a press and its release together; the coil was on for 12 ms.
    const t0 = now() - 100n * MS;
    ch.drive(0, t0);
    ch.drive(1, t0 + 12n * MS);
    await settled([ch]);
    const main = edges.filter((e) => !e.bounce);
    assert.deepEqual(main.map((e) => e.closed), [true, false], rel(edges, t0).join(' '));
    assert.ok(main[0]!.t - t0 >= 5n * MS && main[0]!.t - t0 <= 8n * MS, `make 5–8 ms after the coil: ${rel(edges, t0).join(' ')}`);
    assert.ok(main[1]!.t - t0 >= 15n * MS && main[1]!.t - t0 <= 17n * MS, `break 3–5 ms after the release: ${rel(edges, t0).join(' ')}`);
    assert.equal(ch.isClosed, false);
  });

  it('cancels the make cleanly when the coil is released before the contact made', async function () {
    const truth = new GroundTruthLog();
    const records: TruthRecord[] = [];
    truth.onRecord((r) => records.push(r));
    const { ch, edges } = makeChannel(5, true, truth);
    channels.push(ch);
    const t0 = now() - 100n * MS;
    ch.drive(0, t0);
    ch.drive(1, t0 + 2n * MS);
    await settled([ch]);
    await pause(15);
    assert.deepEqual(edges, [], 'no phantom make');
    assert.equal(ch.isClosed, false);
    assert.deepEqual(
      records.map((r) => [r.kind, r.on, r.t - t0]),
      [
        ['coil', true, 0n],
        ['coil', false, 2n * MS],
      ],
    );
  });

  it('keeps the contact closed when the coil is re-energised before the contact dropped out', async function () {
    const { ch, edges } = makeChannel(9);
    channels.push(ch);
    const t0 = now() - 100n * MS;
    ch.drive(0, t0);
    await settled([ch]);
    const n = edges.length;
    ch.drive(1, t0 + 20n * MS);
    ch.drive(0, t0 + 21n * MS);
    await settled([ch]);
    await pause(15);
    assert.equal(edges.length, n, 'no break, no second make');
    assert.equal(ch.isClosed, true);
  });

  it('energises on the active level only; an undriven input (null) releases either polarity', async function () {
    const t0 = now() - 100n * MS;
    const low = makeChannel(11, true);
    const high = makeChannel(12, false);
    channels.push(low.ch, high.ch);
    low.ch.drive(1, t0);
    high.ch.drive(0, t0);
    assert.equal(low.ch.coilOn, false);
    assert.equal(high.ch.coilOn, false);
    low.ch.drive(0, t0 + MS);
    high.ch.drive(1, t0 + MS);
    assert.equal(low.ch.coilOn, true);
    assert.equal(high.ch.coilOn, true);
    await settled([low.ch, high.ch]);
    low.ch.drive(null, t0 + 30n * MS);
    high.ch.drive(null, t0 + 30n * MS);
    await settled([low.ch, high.ch]);
    for (const r of [low, high]) {
      assert.equal(r.ch.isClosed, false);
      assert.equal(r.edges.at(-1)?.closed, false);
    }
    assert.throws(() => low.ch.drive(2 as 0, t0), /drive level must be 0, 1 or null, got 2/);
  });

  it('records coil and contact edges in the ground truth at their intended times', async function () {
    const truth = new GroundTruthLog();
    const records: TruthRecord[] = [];
    truth.onRecord((r) => records.push(r));
    const { ch, edges } = makeChannel(3, true, truth);
    channels.push(ch);
    const t0 = now() - 100n * MS;
    ch.drive(0, t0);
    await settled([ch]);
    ch.drive(1, t0 + 20n * MS);
    await settled([ch]);
    const contacts = records.filter((r) => r.kind === 'contact');
    assert.deepEqual(
      contacts.map((r) => [r.src, r.closed, r.bounce, r.t]),
      edges.map((e) => ['relay:T', e.closed, e.bounce, e.t]),
    );
    assert.deepEqual(
      records.filter((r) => r.kind === 'coil').map((r) => [r.on, r.t]),
      [
        [true, t0],
        [false, t0 + 20n * MS],
      ],
    );
  });
});

describe('RelayModule', function () {
  it('routes board pins to channels, each seeded reproducibly from the module seed', async function () {
    const seen: string[][] = [[], []];
    const mods = [0, 1].map(
      (i) =>
        new RelayModule({
          name: 'relays',
          activeLow: true,
          seed: 1234,
          pins: { 8: 'PRESSURE_UP', 9: 'VENT' },
          onContact: (label, closed, t, bounce) => seen[i]?.push(`${label} ${closed} ${bounce} ${t}`),
        }),
    );
    try {
      const t0 = now() - 100n * MS;
      for (const m of mods) {
        m.drive(8, 0, t0);
        m.drive(9, 0, t0);
        m.drive(7, 0, t0); // no channel on pin 7
      }
      await settled(mods.flatMap((m) => [...m.channels.values()]));
      assert.deepEqual(seen[0], seen[1]);
      assert.ok(seen[0]?.some((s) => s.startsWith('PRESSURE_UP true false')));
      assert.ok(seen[0]?.some((s) => s.startsWith('VENT true false')));
      assert.equal(mods[0]?.channels.get(8)?.name, 'relays:PRESSURE_UP');
      const t8 = seen[0]?.find((s) => s.startsWith('PRESSURE_UP true false'));
      const t9 = seen[0]?.find((s) => s.startsWith('VENT true false'));
      assert.notEqual(t8?.split(' ')[3], t9?.split(' ')[3], 'channels draw from different seeds');
    } finally {
      for (const m of mods) m.dispose();
    }
  });
});
