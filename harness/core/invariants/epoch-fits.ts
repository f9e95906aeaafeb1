/**
 * The invariants place device times on the host clock with their own per-boot fits (fed in log
 * order, so live and offline checks agree): the same code as the session's ClockSync.
 */
export { EpochFits, type HostPlacement, type HostPlacer } from '../clock-sync.ts';
