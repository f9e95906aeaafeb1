/**
 * Continuous invariants over the observation log: queue bound, exactly-once in order, liveness,
 * callback and processing latency, cross-device causality, serial integrity. Live with
 * {@link InvariantMonitor}, offline with {@link checkObservations}; both run {@link InvariantEngine}.
 */
export { checkObservations, recordedWindows, type CheckOptions, type CheckResult } from './check.ts';
export { Correlator } from './correlator.ts';
export { InvariantEngine, type ViolationListener } from './engine.ts';
export { eventName, type DevicePoint, type EventOutcome, type EventRecord, type PressRecord, type PressState, type RequestRecord, type TakeRecord } from './records.ts';
export type { Facts, Rule, RuleContext, RuleDefinition } from './rule.ts';
export { RULES } from './rules/index.ts';
export { EpochFits, type HostPlacement, type HostPlacer } from './epoch-fits.ts';
export { INVARIANTS_SOURCE, InvariantMonitor, violationFields, type InvariantMonitorOptions, type OpenWindow } from './monitor.ts';
export { percentile, windowResult, type DeviceWindowStats, type EventTimes, type LogWindow, type PressOutcome, type PressRow, type RequestOutcome, type RequestRow, type WindowResult } from './report.ts';
export * from './types.ts';
export { decideVerdict, type TestOutcome, type VerdictResult } from './verdict.ts';
