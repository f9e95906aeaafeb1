/**
 * Before anything moves: which invariants this bench, as it will run, cannot support. A causality
 * rule needs a link from its source device to its target (an external Pi program has no UART to
 * the ESP); the queue invariants need a device that prints its queue telemetry. Those are
 * reported in words, as a rig/configuration matter, and left out of the judging, instead of
 * failing the firmware after the fact.
 */
import type { InvariantLimits, InvariantName, NotJudged } from '../core/invariants/types.ts';
import type { DeviceLink, RigDefinition } from '../rig/types.ts';
import { simDeviceLinks } from '../sim/provider.ts';

/** What the pre-flight found. */
export interface Preflight {
  /** The device links this run has; undefined when neither the rig nor the sim says. */
  links: DeviceLink[] | undefined;
  /** Invariants not judged, per device, and why. */
  notJudged: NotJudged[];
  /** The rig's invariant limits without what cannot be judged: what the run judges with. */
  limits: InvariantLimits;
}

/** The invariants that follow a device's events through its queue. */
export const QUEUE_INVARIANTS: readonly InvariantName[] = ['queue-bound', 'queue-capacity', 'exactly-once', 'order', 'drain', 'processing-latency'];

/**
 * Work out what the rig can judge. `dutCmd`: the simulated bench runs that program as the Pi
 * (it gets no UART to the ESP).
 */
export function preflight(rig: RigDefinition, opts: { dutCmd?: string | undefined } = {}): Preflight {
  const links = deviceLinks(rig, opts);
  const notJudged: NotJudged[] = [];
  const limits: InvariantLimits = { ...rig.invariants };
  if (links && rig.invariants?.causality) {
    limits.causality = rig.invariants.causality.filter((r) => {
      if (links.some((l) => l.from === r.from && l.to === r.to)) return true;
      const why = rig.simulated && opts.dutCmd
        ? `no link from ${r.from} to ${r.to}: the program given with --dut-cmd runs as ${r.from} without the simulated UART to ${r.to}, so ${r.to} cannot hear ${r.from}'s state changes`
        : `no link from ${r.from} to ${r.to} on rig ${rig.name} (its links: ${links.map((l) => `${l.from}→${l.to}`).join(', ') || 'none'}), so ${r.to} cannot hear ${r.from}'s state changes`;
      notJudged.push({ invariant: 'causality', device: r.to, why });
      return false;
    });
  }
  for (const [name, d] of Object.entries(rig.devices)) {
    if (d.telemetry?.queue !== false) continue;
    for (const invariant of QUEUE_INVARIANTS) {
      notJudged.push({ invariant, device: name, why: `rig ${rig.name} says ${name} prints no queue telemetry (devices.${name}.telemetry.queue: false), so its events cannot be followed through its queue` });
    }
  }
  // Causality rules are taken out of the limits above; anything else the engine leaves unreported.
  const others = notJudged.filter((n) => n.invariant !== 'causality');
  if (others.length > 0) limits.notJudged = [...(rig.invariants?.notJudged ?? []), ...others];
  return { links, notJudged, limits };
}

/** The links a run has: the sim's own (narrowed by the rig's list, if any) or the rig's list. */
function deviceLinks(rig: RigDefinition, opts: { dutCmd?: string | undefined }): DeviceLink[] | undefined {
  if (!rig.simulated) return rig.links;
  const sim = simDeviceLinks(rig, opts);
  return rig.links ? sim.filter((s) => rig.links!.some((l) => l.from === s.from && l.to === s.to)) : sim;
}

/** The pre-flight as lines for the console and the report, one per device and reason. */
export function describePreflight(p: Pick<Preflight, 'notJudged'>): string[] {
  const groups = new Map<string, string[]>();
  for (const n of p.notJudged) {
    const k = `${n.device}\u0000${n.why}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(n.invariant);
  }
  return [...groups].map(([k, invariants]) => {
    const [device, why] = k.split('\u0000');
    return `not judged on ${device}: ${invariants.join(', ')} — ${why}`;
  });
}

/** Print what the pre-flight found (stderr, before the bench opens); returns it for chaining. */
export function announcePreflight(p: Preflight, write: (text: string) => void = (t) => process.stderr.write(t)): Preflight {
  const lines = describePreflight(p);
  if (lines.length > 0) write(`pre-flight: ${lines.length === 1 ? 'one invariant group' : `${lines.length} invariant groups`} this bench cannot judge (a rig/configuration matter, not the firmware's):\n${lines.map((l) => `  - ${l}\n`).join('')}`);
  return p;
}
