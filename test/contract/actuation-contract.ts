/**
 * The actuation contract: what outputs, buttons and power must do on any target — the simulated
 * bench's boards, the real StandardFirmata in avr8js, a real bench. Each target says how to see a
 * relay *physically* (the sim's coils, the emulated chip's pins, a device's GPIO edges); the
 * checks are the same everywhere.
 */
import { expect } from 'chai';
import { ButtonPresser, LimitError } from '../../harness/core/buttons.ts';
import type { DigitalOutput } from '../../harness/core/interfaces.ts';
import type { ObservationLog } from '../../harness/core/observation-log.ts';
import { RelayPower } from '../../harness/core/power.ts';
import type { MechanicalLimits } from '../../harness/rig/types.ts';

/** One relay channel of the target. */
export interface Channel {
  /** Name in messages and in the presser (`relays-a:2`). */
  name: string;
  out: DigitalOutput;
  activeLow: boolean;
}

/** A physical change of a channel: its relay energised or released, at a host time. */
export interface PhysicalChange {
  energised: boolean;
  hostNs: bigint;
}

export interface ActuationTarget {
  log: ObservationLog;
  /** At least one active-low and one active-high channel where the target has both. */
  channels: Channel[];
  /** Every physical change of a channel since `sinceNs` (what the relay did, not what was asked). */
  changes(channel: Channel, sinceNs: bigint): PhysicalChange[] | Promise<PhysicalChange[]>;
  /** The limits the target's relays can honour. */
  limits: MechanicalLimits;
  /** How long a command may take to show physically on this target (transport + relay time). */
  withinMs: number;
  /** Release and close the boards (the last check: every channel must read released after). Idempotent. */
  close(): Promise<void>;
  /** Tear down the rest (emulator, sim); after {@link close}. */
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function settle(t: ActuationTarget, ch: Channel, since: bigint, energised: boolean, what: string): Promise<PhysicalChange[]> {
  const t0 = Date.now();
  for (;;) {
    const c = await t.changes(ch, since);
    if (c.length > 0 && c.at(-1)!.energised === energised) return c;
    if (Date.now() - t0 > t.withinMs) throw new Error(`${ch.name}: not physically ${energised ? 'energised' : 'released'} within ${t.withinMs} ms of ${what} (changes: ${c.map((x) => (x.energised ? 'on' : 'off')).join('→') || 'none'})`);
    await sleep(20);
  }
}

/** Define the contract's tests for a target made fresh by `open` (once for the whole suite). */
export function actuationContract(open: () => Promise<ActuationTarget>): void {
  let t: ActuationTarget;

  before(async function () {
    this.timeout(90_000);
    t = await open();
  });

  after(async function () {
    await t?.close();
    await t?.dispose();
  });

  it('outputs: set(true) energises and set(false) releases, whatever the module polarity', async function () {
    const polarities = new Set(t.channels.map((c) => c.activeLow));
    for (const ch of t.channels) {
      const t1 = process.hrtime.bigint();
      await ch.out.set(true);
      expect(ch.out.active).to.equal(true);
      await settle(t, ch, t1, true, 'set(true)');
      const t2 = process.hrtime.bigint();
      await ch.out.set(false);
      expect(ch.out.active).to.equal(false);
      await settle(t, ch, t2, false, 'set(false)');
    }
    expect(polarities.size, 'channels of both polarities').to.be.at.least(1);
  });

  it('buttons: a tap holds the relay for at least the hold, then releases it; every command recorded', async function () {
    const ch = t.channels[0]!;
    const presser = new ButtonPresser(new Map([[ch.name, ch.out]]), t.limits, t.log);
    const holdMs = t.limits.minHoldMs + 40;
    const t1 = process.hrtime.bigint();
    const rec = await presser.press(ch.name, { holdMs });
    const c = await settle(t, ch, t1, false, 'the release');
    const on = c.find((x) => x.energised);
    const off = c.findLast((x) => !x.energised);
    expect(on, `${ch.name} energised by the tap`).to.not.equal(undefined);
    const heldMs = Number(off!.hostNs - on!.hostNs) / 1e6;
    // The coil's own operate/release times shift both edges by a few ms; transport jitter a little more.
    expect(heldMs, `${ch.name} held (ms)`).to.be.within(holdMs - 15, holdMs + 250);
    expect(t.log.at(rec.pressIndex)!.fields).to.include({ press_id: rec.pressId, button: ch.name, hold_ms: holdMs });
    expect(t.log.at(rec.releaseIndex)!.kind).to.equal('release');
  });

  it('buttons: a press the relays cannot make is refused and moves nothing', async function () {
    const ch = t.channels[0]!;
    const presser = new ButtonPresser(new Map([[ch.name, ch.out]]), t.limits, t.log);
    const t1 = process.hrtime.bigint();
    const e = await presser.press(ch.name, { holdMs: t.limits.minHoldMs / 2 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).to.be.instanceOf(LimitError);
    expect((e as LimitError).limit).to.equal('minHoldMs');
    await sleep(Math.min(300, t.withinMs));
    expect(await t.changes(ch, t1)).to.deep.equal([]);
  });

  it('power (NC contact): off energises the relay, on releases it, a cycle stays off at least minOffMs', async function () {
    const ch = t.channels.at(-1)!;
    const power = new RelayPower('dut', ch.out, { contact: 'NC', minOffMs: 150 }, t.log);
    expect(power.isOn).to.equal(true);
    const t1 = process.hrtime.bigint();
    await power.off();
    await settle(t, ch, t1, true, 'power off');
    const t2 = process.hrtime.bigint();
    await power.on();
    await settle(t, ch, t2, false, 'power on');
    const t3 = process.hrtime.bigint();
    await power.cycle();
    const c = await settle(t, ch, t3, false, 'the end of the cycle');
    const offMs = Number(c.findLast((x) => !x.energised)!.hostNs - c.find((x) => x.energised)!.hostNs) / 1e6;
    expect(offMs, 'supply off (ms)').to.be.at.least(150 - 10);
    expect(power.isOn).to.equal(true);
  });

  it('close() releases every relay it holds', async function () {
    const since = process.hrtime.bigint();
    for (const ch of t.channels) await ch.out.set(true);
    for (const ch of t.channels) await settle(t, ch, since, true, 'set(true)');
    const t1 = process.hrtime.bigint();
    await t.close();
    for (const ch of t.channels) await settle(t, ch, t1, false, 'close()');
  });
}
