import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRig, validateRig } from '../../harness/rig/load.ts';
import simBench from '../../rigs/sim-bench.ts';
import labExample from '../../rigs/lab-bench.example.ts';

describe('rig definitions', function () {
  it('the shipped rigs are valid', function () {
    expect(validateRig(simBench).name).to.equal('sim-bench');
    expect(validateRig(labExample).simulated ?? false).to.equal(false);
  });

  it('the lab example wires the same buttons, relay channels and power channels as the sim', function () {
    expect(Object.keys(labExample.buttons).sort()).to.deep.equal(Object.keys(simBench.buttons).sort());
    for (const [name, b] of Object.entries(simBench.buttons)) {
      expect({ board: labExample.buttons[name]!.board, pin: labExample.buttons[name]!.pin }, name).to.deep.equal({ board: b.board, pin: b.pin });
    }
    expect(Object.keys(labExample.power).sort()).to.deep.equal(Object.keys(simBench.power).sort());
  });

  it('lists every problem with its path, what was expected and what was found', function () {
    const bad = structuredClone(simBench);
    bad.buttons.EMERGENCY!.board = 'relays-z';
    bad.buttons.PRESSURE_UP!.pin = bad.buttons.PRESSURE_DOWN!.pin; // two buttons on one relay
    (bad.power.pi as { contact: string }).contact = 'closed';
    bad.limits.minHoldMs = -5;
    try {
      validateRig(bad, 'rigs/broken.ts');
      expect.fail('should throw');
    } catch (e) {
      const m = (e as Error).message;
      expect(m).to.match(/^rigs\/broken\.ts: the rig definition has 4 problems:/);
      expect(m).to.include('buttons.EMERGENCY.board: expected one of the boards (relays-a, relays-b), found "relays-z"');
      expect(m).to.match(/buttons\.PRESSURE_(UP|DOWN): expected a pin not already used \(buttons\.PRESSURE_(UP|DOWN) uses relays-a:\d+\)/);
      expect(m).to.include('power.pi.contact: expected "NO" or "NC", found "closed"');
      expect(m).to.include('limits.minHoldMs: expected a positive number, found -5');
      expect((e as { configError?: boolean }).configError).to.equal(true);
    }
  });

  it('checks the property settings: runs ≥ 1, a budget in ms above zero, nothing else', function () {
    const ok = { ...structuredClone(simBench), properties: { runs: 300, budgetMs: 600_000 } };
    expect(validateRig(ok).properties).to.deep.equal({ runs: 300, budgetMs: 600_000 });
    const bad = { ...structuredClone(simBench), properties: { runs: 0, budgetMs: '10m', shrinks: 5 } };
    expect(() => validateRig(bad)).to.throw(/properties\.shrinks: expected no such setting \(properties has runs, budgetMs\), found 5/);
    expect(() => validateRig(bad)).to.throw(/properties\.runs: expected a whole number ≥ 1, found 0/);
    expect(() => validateRig(bad)).to.throw(/properties\.budgetMs: expected a number of ms > 0, found "10m"/);
  });

  it('checks device links, device telemetry and reset strategies', function () {
    const ok = { ...structuredClone(simBench), links: [{ from: 'pi', to: 'esp', via: 'UART' }], reset: { pi: 'power-cycle' as const, esp: { presses: ['EMERGENCY'], withinMs: 2000 } } };
    expect(validateRig(ok).reset?.pi).to.equal('power-cycle');
    const bad = {
      ...structuredClone(simBench),
      devices: { ...simBench.devices, pi: { ...simBench.devices.pi!, telemetry: { queue: 'no', hb: true } } },
      links: [{ from: 'pi', to: 'scope' }],
      reset: { pi: { presses: ['SELF_DESTRUCT'] }, esp: 'reboot', printer: 'power-cycle' },
    };
    const m = (() => {
      try {
        validateRig(bad);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(m).to.include('devices.pi.telemetry.queue: expected true or false, found "no"');
    expect(m).to.include('devices.pi.telemetry.hb: expected no such setting (telemetry has queue), found true');
    expect(m).to.include('links[0].to: expected one of the devices (pi, esp), found "scope"');
    expect(m).to.include('reset.pi.presses: expected button names of this rig, found "SELF_DESTRUCT"');
    expect(m).to.include(`reset.esp: expected 'power-cycle' or { presses: [buttons…], withinMs? }, found "reboot"`);
    expect(m).to.include('reset.printer: expected a device name (pi, esp), found "printer"');
  });

  it('refuses sim ports on a real rig', function () {
    const bad = { ...structuredClone(labExample), devices: { ...labExample.devices, pi: { port: { sim: 'pi' } } } };
    expect(() => validateRig(bad)).to.throw(/devices\.pi\.port\.sim: expected sim ports only in a rig with simulated: true/);
  });

  it('reports an unknown rig name with the rigs available, and a file without a default export', async function () {
    try {
      await loadRig('no-such-bench');
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/rig "no-such-bench" not found .*rigs available: .*sim-bench/);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-rig-'));
    const f = path.join(dir, 'empty.ts');
    fs.writeFileSync(f, 'export const x = 1;\n');
    try {
      await loadRig(f);
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.include('expected a default export (export default defineRig({...})), found none');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
