/**
 * The types of a rig file, all from its schema (harness/rig/schema.ts): what the editor completes
 * in `defineRig({ … })` is what the loader checks and what rigs/rig.schema.json describes.
 * @module
 */
import type { z } from 'zod';
import type { MechanicalLimits } from '../core/relay-limits.ts';
import type { PowerContact } from '../core/power.ts';
import type { deviceLinkSchema, deviceSchema, buttonSchema, powerSchema, propertySettingsSchema, resetStrategySchema, rigSchema } from './schema.ts';
import type { SetupStep } from './setup-steps.ts';

// Defined where they are enforced (core) or where the parts are (parts), named here with the rest of a rig.
export type { MechanicalLimits, PowerContact, SetupStep };
export type { PortSpec } from '../parts/schema.ts';
export type { BoardSpec } from '../parts/registry.ts';

/** A device under test with a console. */
export type DeviceSpec = z.input<typeof deviceSchema>;
/**
 * A link between two devices that carries state from one to the other (the Pi's UART to the
 * ESP). A causality rule (`invariants.causality`) needs a link from its `from` to its `to`.
 */
export type DeviceLink = z.input<typeof deviceLinkSchema>;
/** One relay channel wired across a panel button. */
export type ButtonSpec = z.input<typeof buttonSchema>;
/** A relay switching a device's supply: which contact carries it (see {@link PowerContact}), and where. */
export type PowerSpec = z.input<typeof powerSchema>;
/** Runs per property and the budget per property. */
export type PropertySettings = z.input<typeof propertySettingsSchema>;
/**
 * `'power-cycle'`: off for the rig's minOffMs, on, wait until it says it is ready. `{ presses }`:
 * tap these buttons in order, each processed (its `done`) within `withinMs` (default 3000); a
 * device that does not take them is power-cycled instead, when it has a power relay.
 */
export type ResetStrategy = z.input<typeof resetStrategySchema>;
/** A complete bench description. Ports are the only thing that differ between sim and lab. */
export type RigDefinition = z.input<typeof rigSchema>;

/** Identity helper that gives a rig file type checking and editor completion. */
export function defineRig(rig: RigDefinition): RigDefinition {
  return rig;
}
