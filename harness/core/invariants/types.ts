/**
 * Types of the continuous invariants: what a violation is, the limits a rig sets, the resolved
 * configuration the engine runs with, and the verdicts a test can end in.
 */
import { resolveDeathPatterns } from '../death-watch.ts';
import { ConfigError } from '../errors.ts';

/**
 * Who is to blame. `firmware`: the device broke a rule (FAIL). `hung`: a device, thread or queue
 * stopped making progress (HUNG). `rig`: the bench itself misbehaved — serial lines lost, a port
 * vanished, an edge nobody pressed — so the record cannot be trusted (ERROR).
 */
export type ViolationKind = 'firmware' | 'hung' | 'rig';

/** Names of the invariants, as they appear in violations and reports. */
export type InvariantName =
  | 'queue-bound'
  | 'queue-capacity'
  | 'exactly-once'
  | 'order'
  | 'heartbeat'
  | 'drain'
  | 'callback-latency'
  | 'processing-latency'
  | 'causality'
  | 'serial-seq'
  | 'serial-link'
  | 'reboot'
  | 'death-pattern'
  | 'phantom-edge';

/** One broken rule. */
export interface Violation {
  invariant: InvariantName;
  /** Device (or board) it is about. */
  device: string;
  /**
   * Host ns when it became true: the observation that showed it, or for a missed deadline the
   * deadline itself (so a live run and a re-check of its record agree).
   */
  t: bigint;
  /** Words a bench engineer understands, with press ids and request ids. */
  detail: string;
  kind: ViolationKind;
  /** Log index of the observation that showed it (for a deadline: the last one it depends on). */
  at: number;
  pressId?: number;
  requestId?: string;
  /** Identity: the same violation is reported once. */
  key: string;
  /**
   * Set on a percentile limit's violation (50, 95, 99): a claim about every sample the window
   * gathered, not about one event (see {@link LatencyLimit}).
   */
  percentile?: number;
}

/** Limits on a latency distribution. Unset fields are not checked. */
export interface LatencyLimit {
  /** Every sample at or below this. */
  max?: number;
  /** Median at or below this (checked over a window). */
  p50?: number;
  /** 95th percentile at or below this. */
  p95?: number;
  /** 99th percentile at or below this. */
  p99?: number;
  /**
   * A percentile is judged as a claim about the distribution (stats.ts): a test decides it only
   * with as many samples as it takes to show it within the limit (59 for a p95, 299 for a p99 at
   * 95 %), FAILing when they show it beyond at the rig's `confidence`; the run judges it over
   * every sample of the run (the run-level latency row). This adds a floor to both: fewer samples
   * than this are not judged at all. Default 1.
   */
  minSamples?: number;
}

/** Per-device limits. Every field is optional; defaults in {@link DEFAULT_DEVICE_LIMITS}. */
export interface DeviceInvariantLimits {
  /** Event queue capacity (cross-checked with `cap=`). Default: the rig's `queue.capacity`; unset means not checked. */
  queueCapacity?: number;
  /**
   * Heartbeats (`hb thread=`): every thread that has beaten must beat again within
   * `periodMs + marginMs`. Default `{ periodMs: 500, marginMs: 500 }`; `false` turns it off.
   */
  heartbeat?: { periodMs: number; marginMs: number } | false;
  /** `cb dur_us`, µs. Default `{ max: 1000 }`. */
  callbackUs?: LatencyLimit;
  /** Edge line to callback end (`cb` t_us − `edge` t_us), µs. Default `{ max: 1000 }`. */
  edgeToCallbackUs?: LatencyLimit;
  /** `q_put` → `done` on the device clock, ms. Default `{}` (reported, not checked). */
  processingMs?: LatencyLimit;
  /**
   * Queue drain: an event must be taken within `depthAfterPut × service × factor + slackMs` of its
   * `q_put`, where `service` is the observed median time between back-to-back `q_get`s (or
   * `serviceMs` until 5 were seen). Default `{ serviceMs: 50, factor: 3, slackMs: 1000 }`.
   */
  drain?: { serviceMs: number; factor: number; slackMs: number };
  /** A taken event (`q_get`) must be `done` within this, ms. Default 2000. */
  takenTimeoutMs?: number;
  /** Extra death patterns (the defaults always apply). */
  deathPatterns?: RegExp[];
}

/** A panel state change that must show up on another device. */
export interface CausalityRule {
  /** Device whose `state` lines carry the change (`pi`). */
  from: string;
  /** Device that must print it on receipt (`esp`). */
  to: string;
  /** State keys watched. Default `['reactor', 'pump_primary', 'pump_secondary', 'pump_tertiary']`. */
  keys?: string[];
  /** Fields a `to` state line must carry to count (the ESP marks relayed state with `src=pi`). Default `{ src: from }`. */
  toFields?: Record<string, string | number>;
  /** Host time from the `from` line's arrival to the `to` line's arrival, ms. Default 500. */
  withinMs?: number;
}

/**
 * The limits a rig sets for the invariants (meant to become `RigDefinition.invariants`). All
 * optional; {@link resolveInvariantConfig} fills defaults in one place.
 */
export interface InvariantLimits {
  /** Per device, by device name. */
  devices?: Record<string, DeviceInvariantLimits>;
  /** Cross-device causality rules. Default none. */
  causality?: CausalityRule[];
  /** A press must produce its edge within this, ms (host time of the edge line). Default 1000. */
  pressToEdgeMs?: number;
  /** An edge with no press is held this long for its press record to arrive, ms. Default 50. */
  edgeGraceMs?: number;
  /** Extra edges up to this long after a release still belong to that press, ms. Default 100. */
  releaseSettleMs?: number;
  /** A request the device accepted (HTTP 202) must print `q_put req=` within this, ms. Default 1000. */
  requestEventMs?: number;
  /**
   * Time-based checks run this far behind the newest observation, ms, so that lines already
   * received but not yet in the log are not missed. Default 50.
   */
  settleMs?: number;
  /**
   * How long, in ms of host arrival time, one event's lines may arrive out of their real order.
   * A firmware logs after the operation and from several threads (docs/telemetry.md), so the
   * processor's `q_get` (even its `done`) can arrive before the callback's `q_put`, and `cb`
   * before or after `q_put`/`q_drop`. A take with no `q_put` yet waits this long for it; a
   * callback with neither `q_put` nor `q_drop` waits this long before it counts as a lost event;
   * a test's window is judged this long after its end. Lines carrying `id=` match exactly,
   * whatever the order. Default 250.
   */
  reorderToleranceMs?: number;
  /**
   * After the harness cuts a device's power, its lines still arriving for this long were printed
   * before the cut (relay release time, serial backlog) and are judged as usual; then whatever is
   * still queued counts as cut by the power-off. ms, default 250.
   */
  powerCutSettleMs?: number;
  /**
   * Confidence at which percentile limits are judged (one-sided order-statistic bounds): a limit
   * PASSes when the samples show it met, FAILs when they show it broken, each at this confidence,
   * and is "not enough samples" otherwise. Between 0.5 and 0.9999; default 0.95.
   */
  confidence?: number;
  /**
   * Invariants this bench cannot support on a device (its firmware prints no queue telemetry, …):
   * never reported for it. The run's pre-flight fills this and says why before anything moves.
   * Default none.
   */
  notJudged?: NotJudged[];
}

/** An invariant not judged on one device, and why (in a bench engineer's words). */
export interface NotJudged {
  invariant: InvariantName;
  device: string;
  why: string;
}

/** Wiring the engine needs from the rig: button → device and GPIO; device → queue capacity. */
export interface InvariantWiring {
  buttons: Record<string, { device: string; gpio: number }>;
  devices: Record<string, { queue?: { capacity: number }; deathPatterns?: RegExp[] }>;
}

/** Fully resolved device limits. */
export interface ResolvedDeviceLimits {
  queueCapacity: number | undefined;
  heartbeat: { periodMs: number; marginMs: number } | false;
  callbackUs: LatencyLimit;
  edgeToCallbackUs: LatencyLimit;
  processingMs: LatencyLimit;
  drain: { serviceMs: number; factor: number; slackMs: number };
  takenTimeoutMs: number;
  deathPatterns: readonly RegExp[];
}

/** What the engine runs with: wiring plus every limit, defaults filled. */
export interface InvariantConfig {
  devices: Record<string, ResolvedDeviceLimits>;
  buttons: Record<string, { device: string; gpio: number }>;
  causality: Array<Required<CausalityRule>>;
  pressToEdgeMs: number;
  edgeGraceMs: number;
  releaseSettleMs: number;
  requestEventMs: number;
  settleMs: number;
  powerCutSettleMs: number;
  confidence: number;
  notJudged: readonly NotJudged[];
  reorderToleranceMs: number;
}

export const DEFAULT_DEVICE_LIMITS: Omit<ResolvedDeviceLimits, 'queueCapacity' | 'deathPatterns'> = {
  heartbeat: { periodMs: 500, marginMs: 500 },
  callbackUs: { max: 1000 },
  edgeToCallbackUs: { max: 1000 },
  processingMs: {},
  drain: { serviceMs: 50, factor: 3, slackMs: 1000 },
  takenTimeoutMs: 2000,
};

export const DEFAULT_CAUSALITY_KEYS = ['reactor', 'pump_primary', 'pump_secondary', 'pump_tertiary'];

/**
 * Build the engine's configuration from the rig's wiring (a `RigDefinition` fits) and optional
 * limits. Limits for a device the rig does not have are a {@link ConfigError}.
 */
export function resolveInvariantConfig(wiring: InvariantWiring, limits: InvariantLimits = {}): InvariantConfig {
  for (const name of Object.keys(limits.devices ?? {})) {
    if (!wiring.devices[name]) throw new ConfigError(`invariants.devices.${name}: no device ${JSON.stringify(name)} on this rig (devices: ${Object.keys(wiring.devices).join(', ')})`, `invariants.devices.${name}`);
  }
  const devices: Record<string, ResolvedDeviceLimits> = {};
  for (const [name, d] of Object.entries(wiring.devices)) {
    const l = limits.devices?.[name] ?? {};
    const cap = l.queueCapacity ?? d.queue?.capacity;
    if (cap !== undefined && !(Number.isInteger(cap) && cap > 0)) {
      throw new ConfigError(`invariants.devices.${name}.queueCapacity: expected a positive integer, found ${String(cap)}`, `invariants.devices.${name}.queueCapacity`);
    }
    devices[name] = {
      queueCapacity: cap,
      heartbeat: l.heartbeat ?? DEFAULT_DEVICE_LIMITS.heartbeat,
      callbackUs: l.callbackUs ?? DEFAULT_DEVICE_LIMITS.callbackUs,
      edgeToCallbackUs: l.edgeToCallbackUs ?? DEFAULT_DEVICE_LIMITS.edgeToCallbackUs,
      processingMs: l.processingMs ?? DEFAULT_DEVICE_LIMITS.processingMs,
      drain: { ...DEFAULT_DEVICE_LIMITS.drain, ...l.drain },
      takenTimeoutMs: l.takenTimeoutMs ?? DEFAULT_DEVICE_LIMITS.takenTimeoutMs,
      deathPatterns: resolveDeathPatterns(d, l),
    };
  }
  const causality = (limits.causality ?? []).map((r, k) => {
    for (const side of ['from', 'to'] as const) {
      if (!wiring.devices[r[side]]) throw new ConfigError(`invariants.causality[${k}].${side}: no device ${JSON.stringify(r[side])} on this rig`, `invariants.causality[${k}].${side}`);
    }
    return { from: r.from, to: r.to, keys: r.keys ?? DEFAULT_CAUSALITY_KEYS, toFields: r.toFields ?? { src: r.from }, withinMs: r.withinMs ?? 500 };
  });
  const buttons: InvariantConfig['buttons'] = {};
  for (const [name, b] of Object.entries(wiring.buttons)) buttons[name] = { device: b.device, gpio: b.gpio };
  return {
    devices,
    buttons,
    causality,
    pressToEdgeMs: limits.pressToEdgeMs ?? 1000,
    edgeGraceMs: limits.edgeGraceMs ?? 50,
    releaseSettleMs: limits.releaseSettleMs ?? 100,
    requestEventMs: limits.requestEventMs ?? 1000,
    settleMs: limits.settleMs ?? 50,
    powerCutSettleMs: limits.powerCutSettleMs ?? 250,
    confidence: resolveConfidence(limits.confidence),
    notJudged: limits.notJudged ?? [],
    reorderToleranceMs: nonNegative(limits.reorderToleranceMs, 250, 'invariants.reorderToleranceMs'),
  };
}

function resolveConfidence(c: number | undefined): number {
  if (c === undefined) return 0.95;
  if (!(typeof c === 'number' && c >= 0.5 && c <= 0.9999)) throw new ConfigError(`invariants.confidence: expected a number from 0.5 to 0.9999 (0.95 = 95 %), found ${String(c)}`, 'invariants.confidence');
  return c;
}

function nonNegative(v: number | undefined, dflt: number, path: string): number {
  if (v === undefined) return dflt;
  if (!(Number.isFinite(v) && v >= 0)) throw new ConfigError(`${path}: expected a number of ms, 0 or more, found ${String(v)}`, path);
  return v;
}

/**
 * How long after a test's window ends its result is taken, ms: the settle time, the reorder
 * tolerance, and one more ms so deadlines that fall exactly at the end are past. The live monitor
 * waits it and `hil check` ticks to it, so both judge a window on the same records.
 */
export function windowSettleMs(config: InvariantConfig): number {
  return config.settleMs + config.reorderToleranceMs + 1;
}

/** How a test ended, by OpenHTF's outcomes. */
export type Verdict = 'PASS' | 'FAIL' | 'HUNG' | 'ERROR' | 'TIMEOUT' | 'ABORTED';
