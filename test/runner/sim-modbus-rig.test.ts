/**
 * rigs/sim-modbus.ts opened the way `hil run` opens it: its Modbus relay module is built by its
 * kind, answers as unit 1, and the buttons and the Pi's power wired to its coils work end to end
 * (a press is queued by the panel; a power cycle reboots the Pi).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readyExpectation } from '../../harness/core/ready.ts';
import { loadRig } from '../../harness/rig/load.ts';
import { RigSession } from '../../harness/runner/session.ts';

describe('rigs/sim-modbus.ts: buttons and power on a Modbus RTU relay module', function () {
  this.timeout(60_000);
  let s: RigSession | undefined;
  let outDir: string;

  before(async function () {
    const { rig } = await loadRig(path.resolve('rigs/sim-modbus.ts'));
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-sim-modbus-'));
    s = await RigSession.open(rig, { outDir, seed: 5 });
    await s.log.waitFor(readyExpectation('pi', rig.devices.pi!.ready), { within: 20_000, from: 0 });
  });

  after(async function () {
    await s?.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('opens the module by its kind', function () {
    const mb = s!.boards.get('relays-mb')!;
    expect(mb.state).to.equal('ready');
    expect([...s!.log.since(0)].find((o) => o.source === 'relays-mb' && o.kind === 'board_ready')?.fields).to.include({ firmware: 'Modbus RTU unit 1' });
  });

  it('presses on Modbus coils reach the buttons the rig names, and only those', async function () {
    const session = s!;
    const from = session.log.nextIndex;
    await session.buttons.tap('REACTOR_START');
    await session.log.waitFor({ topic: 'pi.*', text: /⚡ Queued: REACTOR_START/ }, { within: 5000, from });
    await session.buttons.tapWhenAllowed('PRESSURE_UP');
    await session.log.waitFor({ topic: 'pi.*', text: /✓ Pressure: 105\.0 bar/ }, { within: 5000, from });
    await new Promise((r) => setTimeout(r, 300));
    const queued = [...session.log.since(from)].filter((o) => o.source === 'pi' && /⚡ Queued: /.test(o.text ?? '')).map((o) => /Queued: ([A-Z_]+)/.exec(o.text ?? '')![1]);
    expect(queued).to.deep.equal(['REACTOR_START', 'PRESSURE_UP']);
    const outputs = [...session.log.since(from)].filter((o) => o.source === 'relays-mb' && o.kind === 'output');
    expect(outputs.map((o) => o.fields?.name)).to.deep.equal(['REACTOR_START', 'REACTOR_START', 'PRESSURE_UP', 'PRESSURE_UP']);
  });

  it('the Pi\'s supply is a Modbus coil: a power cycle reboots the Pi', async function () {
    const session = s!;
    const from = session.log.nextIndex;
    await session.power('pi').cycle();
    await session.log.waitFor(readyExpectation('pi', session.rig.devices.pi!.ready), { within: 20_000, from });
  });
});
