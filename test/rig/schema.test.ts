/**
 * The rig's JSON Schema for editors is generated from the same zod schema the loader checks with:
 * the committed rigs/rig.schema.json must be what `npm run rig-schema` writes now, and it must
 * accept the shipped rigs and refuse what the loader refuses.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { RIG_JSON_SCHEMA_FILE, rigJsonSchemaText } from '../../harness/rig/json-schema.ts';
import { validateRig } from '../../harness/rig/load.ts';
import labExample from '../../rigs/lab-bench.example.ts';
import simBench from '../../rigs/sim-bench.ts';
import simModbus from '../../rigs/sim-modbus.ts';

/** A rig as a JSON document holds it (RegExps become `{}`, which the schema accepts as "any"). */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

describe('rig JSON Schema (rigs/rig.schema.json)', function () {
  it('is up to date with the rig schema (run `npm run rig-schema` after changing a schema)', function () {
    expect(fs.readFileSync(RIG_JSON_SCHEMA_FILE, 'utf8') === rigJsonSchemaText(), 'rigs/rig.schema.json is stale: run npm run rig-schema').to.equal(true);
  });

  it('accepts the shipped rigs and refuses a wrong contact, an unknown board kind and a missing limit, as the loader does', function () {
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(fs.readFileSync(RIG_JSON_SCHEMA_FILE, 'utf8')) as object);
    for (const rig of [simBench, simModbus, labExample]) expect(validate(asJson(rig)), JSON.stringify(validate.errors)).to.equal(true);
    const bad = structuredClone(simBench) as unknown as { power: { pi: { contact: string } }; boards: Record<string, { kind?: string }>; limits: Record<string, number> };
    bad.power.pi.contact = 'closed';
    bad.boards['relays-a']!.kind = 'usb-relay';
    delete bad.limits.minGapMs;
    expect(validate(asJson(bad))).to.equal(false);
    const at = (validate.errors ?? []).map((e) => e.instancePath);
    expect(at).to.include.members(['/power/pi/contact', '/boards/relays-a/kind', '/limits']);
    expect(() => validateRig(bad)).to.throw(/has 3 problems/);
    expect(() => validateRig(bad)).to.throw('power.pi.contact: expected "NO" or "NC", found "closed"');
    expect(() => validateRig(bad)).to.throw('boards.relays-a.kind: expected one of the board kinds (firmata, modbus-rtu), found "usb-relay"');
    expect(() => validateRig(bad)).to.throw('limits.minGapMs: expected a positive number, found undefined');
  });

  it('checks a Modbus relay module by its own kind: its slave address, its parity, and coil addresses for its outputs', function () {
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(fs.readFileSync(RIG_JSON_SCHEMA_FILE, 'utf8')) as object);
    const bad = structuredClone(simModbus) as unknown as { boards: Record<string, Record<string, unknown>>; power: { pi: { pin: number } } };
    bad.boards['relays-mb']!.unitId = 300;
    bad.boards['relays-mb']!.parity = 'mark';
    bad.power.pi.pin = 70_000; // a whole number, so the check is the board kind's
    expect(validate(asJson(bad))).to.equal(false);
    expect((validate.errors ?? []).map((e) => e.instancePath)).to.include.members(['/boards/relays-mb/unitId', '/boards/relays-mb/parity']);
    expect(() => validateRig(bad)).to.throw('boards.relays-mb.unitId: expected a Modbus slave address 1–247, found 300');
    expect(() => validateRig(bad)).to.throw('boards.relays-mb.parity: expected "none", "even" or "odd", found "mark"');
    expect(() => validateRig(bad)).to.throw(/power\.pi\.pin: expected a coil address 0–65535 \(0-based, as on the wire\), found 70000/);
  });
});
