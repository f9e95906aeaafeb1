/**
 * The relay-limit rule, stated once: what the relays of a rig can physically do, and whether a
 * press fits. The load-time check of a rig's `limits`, the presser (live presses and planned
 * bursts) and the property generator all use this module.
 * @module
 */
import { z } from 'zod';

const POSITIVE = { error: 'a positive number' };

/** What the relays can physically do. Requests outside these are refused, not stretched. */
export const mechanicalLimitsSchema = z.object(
  {
    /** Shortest hold that reliably makes the contact (relay operate time + debounce), ms. */
    minHoldMs: z.number(POSITIVE).positive(POSITIVE),
    /** Shortest gap between two presses on one channel (release time + debounce), ms. */
    minGapMs: z.number(POSITIVE).positive(POSITIVE),
    /** Most presses per second over all channels (board serial bandwidth, supply). */
    maxPressesPerSec: z.number(POSITIVE).positive(POSITIVE),
  },
  { error: 'an object { minHoldMs, minGapMs, maxPressesPerSec }' },
);

/** What the relays can physically do. Requests outside these are refused, not stretched. */
export type MechanicalLimits = z.output<typeof mechanicalLimitsSchema>;
