/**
 * The simulated bench honours the rig the run is given. A rig wired unlike rigs/sim-bench.ts
 * (test/fixtures/rigs/sim-rewired.ts: two buttons on other relay pins and GPIOs, the Pi's supply on
 * another relay) is opened the way `hil run` opens it, and a press and a power cycle work end to
 * end. Wired as the default bench, the same relay pins would press other buttons (pin 2:
 * REACTOR_START, pin 9: PUMP_SECONDARY_ON) and the supply relay would switch nothing.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../harness/core/errors.ts';
import { readyExpectation } from '../../harness/core/ready.ts';
import { loadRig } from '../../harness/rig/load.ts';
import { RigSession } from '../../harness/runner/session.ts';

const RIG = path.resolve('test/fixtures/rigs/sim-rewired.ts');

describe('simulated bench wired from the run\'s rig (not rigs/sim-bench.ts)', function () {
  this.timeout(60_000);
  let s: RigSession | undefined;
  let outDir: string;

  before(async function () {
    const { rig } = await loadRig(RIG);
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-sim-rig-'));
    s = await RigSession.open(rig, { outDir, seed: 3 });
    await s.log.waitFor(readyExpectation('pi', rig.devices.pi!.ready), { within: 20_000, from: 0 });
  });

  after(async function () {
    await s?.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('a press on the rig\'s own relay pin reaches the button the rig names, and only that one', async function () {
    const session = s!;
    const from = session.log.nextIndex;
    await session.buttons.tap('REACTOR_START');
    await session.log.waitFor({ topic: 'pi.*', text: /⚡ Queued: REACTOR_START/ }, { within: 5000, from });
    await session.buttons.tapWhenAllowed('PRESSURE_UP');
    await session.log.waitFor({ topic: 'pi.*', text: /✓ Pressure: 105\.0 bar/ }, { within: 5000, from });
    // Give a stray press (a relay the default wiring would route elsewhere) time to show up.
    await new Promise((r) => setTimeout(r, 300));
    const queued = [...session.log.since(from)].filter((o) => o.source === 'pi' && /⚡ Queued: /.test(o.text ?? '')).map((o) => /Queued: ([A-Z_]+)/.exec(o.text ?? '')![1]);
    expect(queued).to.deep.equal(['REACTOR_START', 'PRESSURE_UP']);
  });

  it('a press the bench performed short is recorded against that press (released 0 ms into its hold)', async function () {
    const session = s!;
    const from = session.log.nextIndex;
    for (let wait = session.buttons.waitNeededMs('PRESSURE_UP'); wait > 0; wait = session.buttons.waitNeededMs('PRESSURE_UP')) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    await session.buttons.press('PRESSURE_UP');
    // Parked at once: the relay's ON and OFF reach the board together, as a late link delivers them.
    session.releaseAll('test: parked mid-press');
    const nth = [...session.log.since(0)].filter((o) => o.kind === 'press' && o.fields!.button === 'PRESSURE_UP').length;
    // Its hold is what is waited for: when the bench also performed the previous press of this
    // button short (a loaded host), this press is first reported as the one after it ('after').
    const { observation: o } = await session.log.waitFor({ topic: '*.short_press', fields: { button: 'PRESSURE_UP', short: 'hold' }, describe: 'the bench reporting the short hold' }, { within: 3000, from });
    expect(o.fields).to.deep.include({ press: nth, short: 'hold', limit_ms: session.rig.limits.minHoldMs });
    expect(String(o.fields!.reason)).to.match(new RegExp(`^the simulated bench energised PRESSURE_UP's relay for \\d+\\.\\d ms, .*: press ${nth} of PRESSURE_UP was not performed as commanded$`));
  });

  it('the Pi\'s supply is the relay the rig names: a power cycle reboots the Pi', async function () {
    const session = s!;
    const from = session.log.nextIndex;
    await session.power('pi').cycle();
    await session.log.waitFor(readyExpectation('pi', session.rig.devices.pi!.ready), { within: 20_000, from });
  });
});

describe('a simulated rig the sim cannot wire', function () {
  it('is a ConfigError naming the field, before any sim process starts', async function () {
    const { rig } = await loadRig(RIG);
    const bad = { ...rig, buttons: { ...rig.buttons, TURBO: { board: 'relays-a', pin: 3, activeLow: true, device: 'pi', gpio: 7 } } };
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-sim-rig-'));
    try {
      const err = await RigSession.open(bad, { outDir }).then(
        () => expect.fail('expected the session not to open'),
        (e: unknown) => e as Error,
      );
      expect(err).to.be.instanceOf(ConfigError);
      // Worded by the provider's own check: a sim process that refused the rig would end in a SimStartError.
      expect(err.message).to.match(/the simulated bench cannot wire rig "sim-rewired": buttons\.TURBO: the simulated panel has no button "TURBO"/);
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });
});
