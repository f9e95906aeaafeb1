/**
 * A rig file's schema: one source for the rig's TypeScript types (harness/rig/types.ts), its
 * validation messages (harness/rig/load.ts) and the JSON Schema for editors (rigs/rig.schema.json,
 * `npm run rig-schema`). The parts' own fields (relay boards of each kind, a device's console and
 * HTTP server) come from their kinds in harness/parts; the rest is the bench around them.
 * @module
 */
import { z } from 'zod';
import type { InvariantLimits } from '../core/invariants/types.ts';
import { mechanicalLimitsSchema } from '../core/relay-limits.ts';
import { boardSchema, httpEndpointSchema, serialConsoleShape } from '../parts/registry.ts';
import { expected, regExp } from '../parts/schema.ts';
import { setupStepsSchema } from './setup-steps.ts';

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const keyedByName = expected('an object keyed by name');
const MS_AT_LEAST_0 = expected('a number of ms ≥ 0');
const MS_ABOVE_0 = expected('a number of ms > 0');

/** A device under test with a console. */
export const deviceSchema = z.object(
  {
    ...serialConsoleShape,
    /** Extra death patterns for this device (the defaults always apply). */
    deathPatterns: z.array(regExp('a RegExp of a line that means the device died'), expected('a list of RegExps')).optional(),
    /**
     * A console line that says the device is ready for input (presses before it are lost).
     * Default: its first heartbeat (`hb` telemetry). At the start of a run, a device already up
     * (heartbeats with no boot line) is ready once it has beaten for its power spec's `bootMs`: its
     * ready line was printed before the console opened.
     */
    ready: regExp('a RegExp matching the line that says the device is ready').optional(),
    /** Its bounded event queue (checked against `cap=` in telemetry). */
    queue: z
      .object(
        {
          capacity: z.int(expected('a positive integer')).positive(expected('a positive integer')),
        },
        expected('an object { capacity }'),
      )
      .optional(),
    /** Its HTTP server, when it has one. `sim` means: the address the sim reports. */
    http: httpEndpointSchema.optional(),
    /**
     * What its telemetry covers, when it does not print everything docs/telemetry.md lists.
     * `queue: false`: it prints no `q_put`/`q_drop`/`q_get` lines, so the queue invariants (bound,
     * exactly-once through the queue, FIFO order, drain, processing time) cannot be judged on it;
     * the run says so before anything moves and does not judge them. Default: everything.
     */
    telemetry: z
      .strictObject(
        {
          queue: z.boolean(expected('true or false')).optional(),
        },
        { error: (issue) => (issue.code === 'unrecognized_keys' ? 'no such setting (telemetry has queue)' : 'an object { queue?: boolean }') },
      )
      .optional(),
  },
  expected('an object'),
);

/**
 * A link between two devices that carries state from one to the other (the Pi's UART to the
 * ESP). A causality rule (`invariants.causality`) needs a link from its `from` to its `to`.
 */
export const deviceLinkSchema = z.object(
  {
    from: z.string(expected('a device name (a string)')),
    to: z.string(expected('a device name (a string)')),
    /** What it is, for messages (`UART /dev/serial0 115200`). */
    via: z.string(expected('a string')).optional(),
  },
  expected('an object { from, to, via? }'),
);

/** Where a relay channel is: a board, an output on it, and the relay module's input polarity. */
const channelShape = {
  /** Board name. */
  board: z.string(expected('a board name (a string)')),
  /** The board's output driving the relay input (a Firmata pin, a Modbus coil, …). */
  pin: z.int(expected('an output number (a whole number ≥ 0)')).min(0, expected('an output number (a whole number ≥ 0)')),
  /** Relay module input polarity: true when a LOW input energises the coil. */
  activeLow: z.boolean(expected('true or false (relay module input polarity)')),
};

/** One relay channel wired across a panel button. */
export const buttonSchema = z.object(
  {
    ...channelShape,
    /** Device whose input the contact pulls (for reports). */
    device: z.string(expected('a device name (a string)')),
    /** The device's GPIO (BCM number on the Pi) the button is wired to. */
    gpio: z.int(expected('the device GPIO number (BCM on the Pi)')),
  },
  expected('an object'),
);

/** A relay switching a device's supply: which contact carries it, and where. */
export const powerSchema = z.object(
  {
    ...channelShape,
    /**
     * Which contact carries the supply. `NC`: the device is powered while the relay is released
     * (the safe state keeps the bench running); `NO`: powered while energised.
     */
    contact: z.enum(['NO', 'NC'], expected('"NO" or "NC"')),
    /** Minimum time off in a power cycle, ms (capacitors must discharge). */
    minOffMs: z.number(MS_AT_LEAST_0).min(0, MS_AT_LEAST_0),
    /** How long the device takes to boot (to its first heartbeat), ms. */
    bootMs: z.number(MS_AT_LEAST_0).min(0, MS_AT_LEAST_0),
  },
  expected('an object'),
);

/**
 * `'power-cycle'`: off for the rig's minOffMs, on, wait until it says it is ready. `{ presses }`:
 * tap these buttons in order, each processed (its `done`) within `withinMs` (default 3000); a
 * device that does not take them is power-cycled instead, when it has a power relay.
 */
export const resetStrategySchema = z.union(
  [
    z.literal('power-cycle'),
    z.object({
      presses: z.array(z.string(expected('a button name')), expected('a list of button names')).min(1, expected('at least one button')),
      withinMs: z.number(MS_ABOVE_0).positive(MS_ABOVE_0).optional(),
    }),
  ],
  expected("'power-cycle' or { presses: [buttons…], withinMs? }"),
);

export const propertySettingsSchema = z.strictObject(
  {
    /** Runs per property. */
    runs: z.int(expected('a whole number ≥ 1')).min(1, expected('a whole number ≥ 1')).optional(),
    /** Budget per property, ms; the best counterexample so far is reported when it runs out. */
    budgetMs: z.number(MS_ABOVE_0).positive(MS_ABOVE_0).optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? 'no such setting (properties has runs, budgetMs)' : 'an object { runs?, budgetMs? }') },
);

/** A complete bench description. Ports are the only thing that differ between sim and lab. */
export const rigSchema = z.object(
  {
    name: z.string(expected('a non-empty string')).min(1, expected('a non-empty string')),
    description: z.string(expected('a string')).optional(),
    /** Set for the simulated bench: the harness starts it and fills in `sim` ports. */
    simulated: z.boolean(expected('true or false')).optional(),
    /** The relay boards, by name. Each is of a registered kind (`kind`, default `firmata`). */
    boards: z.record(z.string(), boardSchema, keyedByName),
    devices: z.record(z.string(), deviceSchema, keyedByName),
    buttons: z.record(z.string(), buttonSchema, keyedByName),
    /** Power relays, by the name of the device they supply. */
    power: z.record(z.string(), powerSchema, keyedByName),
    limits: mechanicalLimitsSchema,
    /** Limits the invariants check (callback latency, heartbeats, causality, …); defaults otherwise. */
    invariants: z
      .custom<InvariantLimits>(isObject, expected('an object of invariant limits (see harness/core/invariants/types.ts)'))
      .meta({ description: 'Limits the invariants check (see harness/core/invariants/types.ts)', type: 'object' })
      .optional(),
    /**
     * The links between devices on this bench. When given, a causality rule with no link from its
     * `from` to its `to` is reported before the run as one the rig cannot judge, and not judged.
     * Unset: the rig does not say, and every rule is judged. On the simulated bench the sim says
     * which links it wires (the Pi's UART to the ESP exists only for its built-in panel firmware,
     * not for a `--dut-cmd` program); a `links` list here narrows that further.
     */
    links: z.array(deviceLinkSchema, expected('a list of { from, to, via? }')).optional(),
    /**
     * How to bring a device to a known state (labgrid's strategies), by device name: what a
     * property asks for before each of its runs (`runProperty(…, { reset: ['pi'] })`), so a
     * counterexample reproduces from that state. Default: `'power-cycle'` for a device with a power
     * relay. A press sequence is cheaper where the firmware has one that resets it.
     */
    reset: z.record(z.string(), resetStrategySchema, expected("an object keyed by device: 'power-cycle' | { presses: [buttons], withinMs? }")).optional(),
    /**
     * Bench preparation, run before any port is opened (a flasher needs the ESP's port): flash the
     * ESP, deploy the panel firmware, … A step that still fails after its retries ends the run as
     * ERROR with its output.
     */
    setup: setupStepsSchema.optional(),
    /**
     * Property-based tests on this rig: runs per property and the wall-clock budget per property
     * (shrinking included — it runs on the bench, so it costs bench time). `hil run --runs/--budget`
     * override these; each property's own defaults apply where neither says.
     */
    properties: propertySettingsSchema.optional(),
  },
  expected('an object'),
);
