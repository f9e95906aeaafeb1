import { sleepOn, type Clock } from './clock.ts';
import { ConfigError } from './errors.ts';
import type { DigitalOutput } from './interfaces.ts';
import type { ObservationLog } from './observation-log.ts';
import type { MechanicalLimits } from '../rig/types.ts';

/** A press the relays cannot physically perform. Names the limit, the request and the rig value. */
export class LimitError extends Error {
  override readonly name = 'LimitError';
  readonly limitExceeded = true;
  constructor(
    message: string,
    readonly limit: keyof MechanicalLimits | 'held' | 'minOffMs',
  ) {
    super(message);
  }
}

export interface PressOptions {
  /** How long the relay stays energised, ms. Default: the rig's minHoldMs. */
  holdMs?: number;
}

/** What a press did, for the caller and the report. */
export interface PressRecord {
  pressId: number;
  button: string;
  /** Log indices of the press and release observations. */
  pressIndex: number;
  releaseIndex: number;
}

/**
 * Panel buttons pressed through relay outputs, within the rig's mechanical limits. A request the
 * relays cannot perform — a hold shorter than the contact needs, a second press before the
 * channel has released and settled, more presses per second than the board can drive — is
 * refused with a {@link LimitError} that says which limit, never stretched silently. Every
 * press and release is an observation (`buttons.press` / `buttons.release`) with a press id.
 */
export class ButtonPresser {
  private nextId = 1;
  private readonly held = new Set<string>();
  private readonly lastRelease = new Map<string, bigint>();
  /** Start times of recent presses, for the rate limit. */
  private recent: bigint[] = [];

  constructor(
    private readonly outputs: ReadonlyMap<string, DigitalOutput>,
    private readonly limits: MechanicalLimits,
    private readonly log: ObservationLog,
    private readonly clock: Clock = log.clock,
  ) {}

  get buttons(): string[] {
    return [...this.outputs.keys()];
  }

  private output(button: string): DigitalOutput {
    const out = this.outputs.get(button);
    if (!out) throw new ConfigError(`no button ${JSON.stringify(button)} on this rig; buttons: ${this.buttons.join(', ')}`);
    return out;
  }

  /** Check a press against the limits without performing it. */
  check(button: string, holdMs: number): void {
    this.output(button);
    const { minHoldMs, minGapMs, maxPressesPerSec } = this.limits;
    if (this.held.has(button)) throw new LimitError(`${button}: already held; release it before pressing again`, 'held');
    if (holdMs < minHoldMs) {
      throw new LimitError(`${button}: a hold of ${holdMs} ms is shorter than the rig's minHoldMs ${minHoldMs} ms (the relay contact would not make reliably)`, 'minHoldMs');
    }
    const now = this.clock.now();
    const last = this.lastRelease.get(button);
    if (last !== undefined) {
      const gap = Number(now - last) / 1e6;
      if (gap < minGapMs) {
        throw new LimitError(`${button}: pressed again ${gap.toFixed(1)} ms after its release; the rig's minGapMs is ${minGapMs} ms (release time + debounce)`, 'minGapMs');
      }
    }
    const windowStart = now - 1_000_000_000n;
    this.recent = this.recent.filter((t) => t > windowStart);
    if (this.recent.length >= maxPressesPerSec) {
      throw new LimitError(`${button}: this would be press ${this.recent.length + 1} within 1 s; the rig's maxPressesPerSec is ${maxPressesPerSec}`, 'maxPressesPerSec');
    }
  }

  /** Energise the button's relay for `holdMs`, then release it. */
  async press(button: string, options: PressOptions = {}): Promise<PressRecord> {
    const holdMs = options.holdMs ?? this.limits.minHoldMs;
    this.check(button, holdMs);
    const out = this.output(button);
    const pressId = this.nextId++;
    this.held.add(button);
    this.recent.push(this.clock.now());
    let pressIndex = -1;
    try {
      await out.set(true);
      pressIndex = this.log.record('buttons', 'press', { press_id: pressId, button, hold_ms: holdMs }).i;
      await sleepOn(this.clock, holdMs);
    } finally {
      // Released whatever happened while it was held.
      await out.set(false).finally(() => {
        this.held.delete(button);
        this.lastRelease.set(button, this.clock.now());
      });
    }
    const releaseIndex = this.log.record('buttons', 'release', { press_id: pressId, button }).i;
    return { pressId, button, pressIndex, releaseIndex };
  }
}
