/**
 * The simulated bench checks that it performed the presses it was sent.
 *
 * A real relay board receives the host's bytes as they are written: a UART or USB does not hold
 * them back. The sim's boards sit behind PTYs, and a PTY is not a wire: the kernel hands what the
 * host writes to the reading side from a worker thread of its own (a `kworker`, at the default
 * priority). On a loaded machine that worker runs late. Measured on a 2-core box with two busy
 * loops: the sim received a command up to 36–48 ms after the harness had written it, even with
 * the sim itself at real-time priority. The same load gave 1.2–4.2 ms once those kernel workers
 * were given a higher priority (an experiment, not something the sim does).
 *
 * When a press's ON is held back and its OFF is not, the coil is energised for less time than the
 * harness held it. One CI run saw a 30 ms press energise the coil for 14 ms; a verdict run saw
 * 6.3 ms, which the firmware's debounce rightly ignored. The harness then blamed the firmware for
 * a press the bench never performed.
 *
 * The harness never sends a hold shorter than the rig's `minHoldMs`, nor presses a channel again
 * sooner than `minGapMs` after its release (ButtonPresser refuses both, and it times both from
 * when the command was written). So a shorter hold or gap at the board can only mean the link
 * delivered the commands late and unevenly. The sim cannot know when the bytes were written, but
 * it can tell that, and it says so. The run records it against that press; if the firmware then
 * printed no edge for it, the verdict is ERROR (the bench), not FAIL (the firmware). A press that
 * arrived short and was still handled changes nothing.
 * @module
 */

/** What the harness promises about every press it sends (the rig's `limits`). */
export interface CommandLimits {
  /** No hold is commanded shorter than this, ms. */
  minHoldMs: number;
  /** No channel is pressed again sooner than this after its release, ms. */
  minGapMs: number;
}

/** A press the board performed shorter than it can have been commanded. */
export interface ShortCommand {
  /** Relay board (its rig name). */
  board: string;
  /** Channel label (the button). */
  button: string;
  /** `hold`: the coil was energised too briefly; `gap`: it was re-energised too soon after a release. */
  what: 'hold' | 'gap';
  /** What the board saw, ms. */
  performedMs: number;
  /** What the rig guarantees, ms. */
  limitMs: number;
  /** Host time of the coil change that ended it, ns. */
  t: bigint;
}

/**
 * Slack for the comparison, ms. The presser's timers may fire up to a millisecond early against
 * the monotonic clock (Node's timers count whole milliseconds of a cached loop time), so a hold
 * received 0.9 ms short of the limit was still commanded within it.
 */
export const AUDIT_SLACK_MS = 1;

/**
 * Watches the coil changes of one board's button channels against the rig's limits. Only a press
 * it saw whole is judged: a hold from an ON that followed a commanded OFF, and a gap from an OFF
 * that ended such a hold. A channel energised by the board's own boot (StandardFirmata drives its
 * pins LOW at reset) and released by the harness taking the board over is no press, and the
 * harness may press it at once after that release (its gap rule counts from its own releases).
 */
export class CommandSpacingAudit {
  /** Per channel: the last commanded ON and OFF, and whether each belongs to a press seen whole. */
  private readonly last = new Map<string, { on?: bigint; onIsPress?: boolean; off?: bigint; offEndsPress?: boolean }>();

  constructor(
    readonly board: string,
    private readonly limits: CommandLimits,
    /** The channels that are buttons (power lines have their own rules). */
    private readonly buttons: ReadonlySet<string>,
  ) {}

  /**
   * A coil changed at `t` because its input went to `level` (null: floating, e.g. a board reset;
   * such a change was not commanded and is not judged). Returns the short command it ends, if any.
   */
  coil(label: string, on: boolean, level: 0 | 1 | null, t: bigint): ShortCommand | undefined {
    if (!this.buttons.has(label)) return undefined;
    if (level === null) {
      // Not commanded: forget the channel, so the next commanded change is not compared with it.
      this.last.delete(label);
      return undefined;
    }
    const ch = this.last.get(label) ?? {};
    this.last.set(label, ch);
    let since: bigint | undefined;
    if (on) {
      if (ch.offEndsPress) since = ch.off;
      ch.onIsPress = ch.off !== undefined;
      ch.on = t;
    } else {
      if (ch.onIsPress) since = ch.on;
      ch.offEndsPress = ch.onIsPress === true;
      ch.off = t;
    }
    if (since === undefined) return undefined;
    const performedMs = Number(t - since) / 1e6;
    const limitMs = on ? this.limits.minGapMs : this.limits.minHoldMs;
    if (performedMs >= limitMs - AUDIT_SLACK_MS) return undefined;
    return { board: this.board, button: label, what: on ? 'gap' : 'hold', performedMs, limitMs, t };
  }
}

/** The sentence a run records for a {@link ShortCommand}: what the bench did, and why it is the bench's doing. */
export function describeShortCommand(s: ShortCommand): string {
  const did =
    s.what === 'hold'
      ? `energised ${s.button}'s relay for ${s.performedMs.toFixed(1)} ms, shorter than the rig's minHoldMs ${s.limitMs} ms`
      : `energised ${s.button}'s relay again ${s.performedMs.toFixed(1)} ms after releasing it, sooner than the rig's minGapMs ${s.limitMs} ms`;
  return `the simulated bench ${did}; the harness never commands that, so the link to ${s.board} delivered its commands late (a PTY under host load): that press was not performed as commanded`;
}
