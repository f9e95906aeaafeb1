import { DeathPatternError } from './errors.ts';
import type { Observation } from './observation.ts';
import { Priority, type ObservationLog } from './observation-log.ts';

/** Lines that must never appear on a device console. */
export const DEFAULT_DEATH_PATTERNS: readonly RegExp[] = [
  /Traceback \(most recent call last\)/,
  /\bKernel panic\b|\bpanic\(\)|^panic:/,
  /Guru Meditation Error/,
  /task_wdt: Task watchdog got triggered/,
  /\bHardFault\b/,
  /\bwatchdog reset\b|\brst:0x[0-9a-f]+ \((?:TG\dWDT|RTCWDT|.*WDT)/i,
  /Segmentation fault|core dumped/,
  // A sanitizer's report: firmware built for the host with -fsanitize=thread/address.
  /^WARNING: ThreadSanitizer:|^ERROR: AddressSanitizer:|^ERROR: LeakSanitizer:/,
];

/**
 * Every pattern a device's console is forbidden to print: the defaults, the rig's own for the
 * device, and its invariant limits' (`invariants.devices.<name>.deathPatterns`). The live
 * {@link DeathWatch} and the death-pattern rule (`hil check`, the verdicts) both scan with this one
 * list, so what fails a test at once and what the record is judged by cannot disagree.
 */
export function resolveDeathPatterns(device?: { deathPatterns?: readonly RegExp[] }, limits?: { deathPatterns?: readonly RegExp[] }): readonly RegExp[] {
  return [...DEFAULT_DEATH_PATTERNS, ...(device?.deathPatterns ?? []), ...(limits?.deathPatterns ?? [])];
}

/**
 * The {@link DeathWatch} patterns of a rig: each device's resolved list, and the defaults for
 * every other source with text (a setup step's output).
 */
export function deathPatternsByDevice(devices: Record<string, { deathPatterns?: readonly RegExp[] }>, limits?: { devices?: Record<string, { deathPatterns?: readonly RegExp[] }> }): Record<string, readonly RegExp[]> {
  const patterns: Record<string, readonly RegExp[]> = { '*': DEFAULT_DEATH_PATTERNS };
  for (const [name, d] of Object.entries(devices)) patterns[name] = resolveDeathPatterns(d, limits?.devices?.[name]);
  return patterns;
}

/** The first of `patterns` that `text` matches, or undefined: the one scanner. */
export function findDeathPattern(text: string, patterns: readonly RegExp[]): RegExp | undefined {
  for (const re of patterns) if (re.test(text)) return re;
  return undefined;
}

export interface DeathWatchOptions {
  /**
   * The complete pattern list per source (a device's from {@link resolveDeathPatterns}); `*` for
   * every other source with text. Default: `{ '*': DEFAULT_DEATH_PATTERNS }`.
   */
  patterns?: Record<string, readonly RegExp[]>;
  /** Telemetry kinds that count as death too (a `HIL … wdt` line). Default `['wdt']`. */
  kinds?: readonly string[];
}

/**
 * Watches every observation (at safety priority, so before anyone else) for death patterns.
 * A hit is recorded as a `violation` observation, fails every pending wait at once, and stays
 * in {@link DeathWatch.tripped} until taken, so the current test fails even if it was not
 * waiting on anything.
 */
export class DeathWatch {
  readonly tripped: DeathPatternError[] = [];
  private readonly unsubscribe: () => void;
  private readonly patterns: Record<string, readonly RegExp[]>;
  private readonly kinds: Set<string>;
  private readonly listeners: Array<(e: DeathPatternError, o: Observation) => void> = [];

  constructor(
    private readonly log: ObservationLog,
    options: DeathWatchOptions = {},
  ) {
    this.patterns = options.patterns ?? { '*': DEFAULT_DEATH_PATTERNS };
    this.kinds = new Set(options.kinds ?? ['wdt']);
    this.unsubscribe = log.on('*', (o) => this.check(o), { priority: Priority.SAFETY, name: 'death-watch' });
  }

  private check(o: Observation): void {
    if (o.text === undefined) return;
    let hit: string | undefined;
    if (this.kinds.has(o.kind)) hit = `telemetry kind ${o.kind}`;
    else {
      const re = findDeathPattern(o.text, this.patterns[o.source] ?? this.patterns['*'] ?? []);
      if (re) hit = String(re);
    }
    if (!hit) return;
    const raw = this.log.getSourceInfo(o.source)?.rawLog;
    const err = new DeathPatternError(
      `${o.source} printed a forbidden line (${hit}) at #${o.i}: ${o.text}` + (raw ? `; full log: ${raw}` : ''),
      o.source,
      o.text,
      hit,
      o.i,
    );
    this.tripped.push(err);
    this.log.record('harness', 'violation', { invariant: 'death-pattern', device: o.source, pattern: hit, line: o.text, at: o.i });
    this.log.failWaiters(err);
    for (const l of this.listeners) l(err, o);
  }

  /** Hear about every death, after pending waits were failed (the runner fails the running test with it). Returns the unsubscribe. */
  onDeath(listener: (e: DeathPatternError, o: Observation) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const k = this.listeners.indexOf(listener);
      if (k >= 0) this.listeners.splice(k, 1);
    };
  }

  /** Take (and clear) the deaths seen since the last call: a test wrapper calls this at the end of each test. */
  take(): DeathPatternError[] {
    return this.tripped.splice(0);
  }

  /** Clear the deaths `judged` says are already accounted for (a test's own verdict has them). */
  dropJudged(judged: (e: DeathPatternError) => boolean): void {
    const left = this.tripped.filter((e) => !judged(e));
    this.tripped.splice(0, this.tripped.length, ...left);
  }

  close(): void {
    this.unsubscribe();
  }
}
