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

/** A press the board performed shorter (or sooner) than it can have been commanded. */
export interface ShortCommand {
  /** Relay board (its rig name). */
  board: string;
  /** Channel label (the button). */
  button: string;
  /**
   * Which press of this button it concerns, counting from 1 since the bench started: the
   * harness's n-th press of the button (commands reach the board in the order they were written).
   */
  press: number;
  /**
   * `hold`: the coil was energised too briefly; `gap`: re-energised too soon after its release;
   * `period`: energised too soon after its previous press began (less than minHoldMs + minGapMs:
   * the previous press arrived late, and its contact's edges crowd this one's); `after`: the
   * first press after one performed short (a debounce may have taken that one's release for
   * bounce, and then this press does not read as a new one: seen with RPi.GPIO-style bouncetime,
   * the next press lost 5.7 s later).
   */
  what: 'hold' | 'gap' | 'period' | 'after';
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

interface ChannelAudit {
  /** A released level (a non-floating input with the coil off) was seen since the input last floated. */
  released: boolean;
  /** Presses seen, ever (the n-th is the harness's n-th press of this button). */
  presses: number;
  /** The current or last press: when it was energised, and released. */
  pressOn?: bigint;
  pressOff?: bigint;
  /** The current or last press was reported performed short. */
  shortPress: boolean;
}

/**
 * Watches one board's button channels against the rig's limits. A press is a coil energised by a
 * command after a released level: a channel energised by the board's own boot (StandardFirmata
 * drives its pins LOW at reset) and released by the harness taking the board over is no press,
 * and the harness may press it at once after that release (its gap rule counts from its own
 * releases).
 */
export class CommandSpacingAudit {
  private readonly channels = new Map<string, ChannelAudit>();

  constructor(
    readonly board: string,
    private readonly limits: CommandLimits,
    /** The channels that are buttons (power lines have their own rules). */
    private readonly buttons: ReadonlySet<string>,
  ) {}

  /**
   * The input of channel `label` went to `level` at `t` (null: floating, e.g. a board reset; not
   * commanded), leaving its coil `coilOn`; `changed`: the coil changed with it. Returns what it
   * shows performed short, if anything.
   */
  input(label: string, level: 0 | 1 | null, coilOn: boolean, changed: boolean, t: bigint): ShortCommand | undefined {
    if (!this.buttons.has(label)) return undefined;
    let ch = this.channels.get(label);
    if (!ch) {
      ch = { released: false, presses: 0, shortPress: false };
      this.channels.set(label, ch);
    }
    if (level === null) {
      // Not commanded: no press is open, and the next ON needs a released level first.
      ch.released = false;
      ch.pressOn = undefined;
      ch.pressOff = undefined;
      ch.shortPress = false;
      return undefined;
    }
    if (!coilOn) {
      const ended = changed && ch.pressOn !== undefined && ch.pressOff === undefined;
      ch.released = true;
      if (!ended) return undefined;
      ch.pressOff = t;
      const hold = this.judge(label, ch, 'hold', t - ch.pressOn!, this.limits.minHoldMs, t);
      if (hold) ch.shortPress = true;
      return hold;
    }
    if (!changed || !ch.released) {
      // Energised by the board's boot, or after a float: not a press.
      if (changed) ch.released = false;
      return undefined;
    }
    ch.released = false;
    ch.presses++;
    const { pressOn: lastOn, pressOff: lastOff, shortPress: afterShort } = ch;
    ch.pressOn = t;
    ch.pressOff = undefined;
    const found =
      (lastOff !== undefined ? this.judge(label, ch, 'gap', t - lastOff, this.limits.minGapMs, t) : undefined) ??
      (lastOn !== undefined ? this.judge(label, ch, 'period', t - lastOn, this.limits.minHoldMs + this.limits.minGapMs, t) : undefined);
    ch.shortPress = found !== undefined;
    if (found || !afterShort || lastOn === undefined) return found;
    return { board: this.board, button: label, press: ch.presses, what: 'after', performedMs: Number(t - lastOn) / 1e6, limitMs: this.limits.minHoldMs, t };
  }

  private judge(button: string, ch: ChannelAudit, what: ShortCommand['what'], ns: bigint, limitMs: number, t: bigint): ShortCommand | undefined {
    const performedMs = Number(ns) / 1e6;
    if (performedMs >= limitMs - AUDIT_SLACK_MS) return undefined;
    return { board: this.board, button, press: ch.presses, what, performedMs, limitMs, t };
  }
}

/** The sentence a run records for a {@link ShortCommand}: what the bench did, and why it is the bench's doing. */
export function describeShortCommand(s: ShortCommand): string {
  const late = `the link to ${s.board} delivered its commands late (a PTY under host load)`;
  if (s.what === 'after') {
    return `the simulated bench performed press ${s.press - 1} of ${s.button} short (${late}); a debounce may take that press's release for bounce, and then press ${s.press}, ${s.performedMs.toFixed(1)} ms after it began, does not read as a new press`;
  }
  const did =
    s.what === 'hold'
      ? `energised ${s.button}'s relay for ${s.performedMs.toFixed(1)} ms, shorter than the rig's minHoldMs ${s.limitMs} ms`
      : s.what === 'gap'
        ? `energised ${s.button}'s relay again ${s.performedMs.toFixed(1)} ms after releasing it, sooner than the rig's minGapMs ${s.limitMs} ms`
        : `energised ${s.button}'s relay again ${s.performedMs.toFixed(1)} ms after its previous press began, sooner than the rig's minHoldMs + minGapMs (${s.limitMs} ms)`;
  return `the simulated bench ${did}; the harness never commands that, so ${late}: press ${s.press} of ${s.button} was not performed as commanded`;
}
