import type { Clock, TimerHandle } from '../../core/clock.ts';

/**
 * The "write at most `ms` after the first unwritten line" timer the buffered run files share
 * (observations.jsonl, trace.json, the timed serial logs): {@link due} arms it once per batch,
 * {@link cancel} disarms it when the writer flushes on its own.
 */
export class FlushTimer {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly ms: number,
    private readonly flush: () => void,
  ) {}

  /** Something is buffered: flush within `ms`, unless a flush is already due. */
  due(): void {
    this.timer ??= this.clock.setTimer(() => {
      this.timer = undefined;
      this.flush();
    }, this.ms);
  }

  /** The writer is flushing now: nothing is due any more. */
  cancel(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
