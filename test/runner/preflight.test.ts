/**
 * The pre-flight: invariants a bench cannot support are found from the rig (and the sim's own
 * wiring) before anything moves, said in words, and left out of the judging — a causality rule
 * with no link, queue invariants on a device that prints no queue telemetry.
 */
import { expect } from 'chai';
import { checkObservations, resolveInvariantConfig } from '../../harness/core/invariants/index.ts';
import { announcePreflight, describePreflight, preflight, QUEUE_INVARIANTS } from '../../harness/runner/preflight.ts';
import { validateRig } from '../../harness/rig/load.ts';
import type { RigDefinition } from '../../harness/rig/types.ts';
import labExample from '../../rigs/lab-bench.example.ts';
import simBench from '../../rigs/sim-bench.ts';
import { config, Trace } from '../core/invariants/trace.ts';

const withCausality = (rig: RigDefinition): RigDefinition => ({ ...rig, invariants: { ...rig.invariants, causality: [{ from: 'pi', to: 'esp', withinMs: 500 }] } });

describe('pre-flight: what the bench cannot judge', function () {
  it('the simulated bench with its built-in panel judges everything: the sim wires the UART pi → esp', function () {
    const p = preflight(simBench, {});
    expect(p.notJudged).to.deep.equal([]);
    expect(p.links?.map((l) => `${l.from}>${l.to}`)).to.deep.equal(['pi>esp']);
    expect(p.limits.causality).to.deep.equal(simBench.invariants!.causality);
    expect(describePreflight(p)).to.deep.equal([]);
  });

  it('with --dut-cmd there is no UART to the ESP: causality pi → esp is reported in words and left out', function () {
    const p = preflight(simBench, { dutCmd: 'python3 -u panel.py' });
    expect(p.links).to.deep.equal([]);
    expect(p.notJudged.map((n) => `${n.invariant} on ${n.device}`)).to.deep.equal(['causality on esp']);
    expect(p.notJudged[0]!.why).to.match(/no link from pi to esp: the program given with --dut-cmd runs as pi without the simulated UART to esp/);
    expect(p.limits.causality).to.deep.equal([]);
    // The rest of the rig's limits are kept as they are.
    expect(p.limits.devices).to.deep.equal(simBench.invariants!.devices);
    let printed = '';
    announcePreflight(p, (t) => (printed += t));
    expect(printed).to.match(/^pre-flight: one invariant group this bench cannot judge \(a rig\/configuration matter, not the firmware's\):\n {2}- not judged on esp: causality — no link/);
  });

  it("a real rig's links decide; a rig that declares none is judged as written", function () {
    const lab = withCausality(labExample);
    expect(preflight(lab).notJudged).to.deep.equal([]);
    const unlinked = { ...lab, links: [] };
    const p = preflight(unlinked);
    expect(p.notJudged.map((n) => n.invariant)).to.deep.equal(['causality']);
    expect(p.notJudged[0]!.why).to.match(/no link from pi to esp on rig lab-bench\S* \(its links: none\)/);
    const silent: RigDefinition = { ...lab };
    delete silent.links;
    expect(preflight(silent).notJudged).to.deep.equal([]);
  });

  it('a device the rig says prints no queue telemetry: the queue invariants are not judged on it', function () {
    const rig: RigDefinition = { ...simBench, devices: { ...simBench.devices, pi: { ...simBench.devices.pi!, telemetry: { queue: false } } } };
    expect(validateRig(rig).devices.pi!.telemetry).to.deep.equal({ queue: false });
    const p = preflight(rig, {});
    expect(p.notJudged.map((n) => n.invariant)).to.deep.equal([...QUEUE_INVARIANTS]);
    expect(p.notJudged.every((n) => n.device === 'pi')).to.equal(true);
    expect(describePreflight(p)).to.deep.equal([`not judged on pi: ${QUEUE_INVARIANTS.join(', ')} — rig sim-bench says pi prints no queue telemetry (devices.pi.telemetry.queue: false), so its events cannot be followed through its queue`]);
    expect(p.limits.notJudged?.length).to.equal(QUEUE_INVARIANTS.length);
  });

  it('an invariant not judged is never reported, the others still are', function () {
    // A callback that neither queued nor refused its event: exactly-once, unless not judged on pi.
    const tr = new Trace();
    tr.click('SHIM_ROD_UP'); // a device that does print its queue lines
    tr.process();
    tr.click('PRESSURE_UP', { mode: 'silent' });
    tr.advance(100);
    const judged = checkObservations(tr.obs, config());
    expect(judged.violations.map((v) => v.invariant)).to.deep.equal(['exactly-once']);
    const notJudged = checkObservations(tr.obs, config({ notJudged: [{ invariant: 'exactly-once', device: 'pi', why: 'test' }] }));
    expect(notJudged.violations).to.deep.equal([]);
    // On another device it is still judged.
    const elsewhere = checkObservations(tr.obs, config({ notJudged: [{ invariant: 'exactly-once', device: 'esp', why: 'test' }] }));
    expect(elsewhere.violations.map((v) => v.invariant)).to.deep.equal(['exactly-once']);
    expect(resolveInvariantConfig({ buttons: {}, devices: {} }).notJudged).to.deep.equal([]);
  });
});
