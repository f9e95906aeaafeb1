import type { Clock, TimerHandle } from './clock.ts';

/** How {@link retryWithBackoff} spaces its attempts. */
export interface BackoffOptions {
  /** The first wait, ms; each later one doubles it. */
  initialMs: number;
  /** Longest wait, ms. */
  maxMs: number;
  /** Make the first attempt at once (then wait `initialMs`, …) instead of after `initialMs`. Default false. */
  immediateFirst?: boolean;
  /** Give up after this many attempts. Default: no limit. */
  maxAttempts?: number;
  /** Give up when the next wait would end more than this long after the start, ms. Default: no limit. */
  windowMs?: number;
  /** Checked before each attempt and after each failure: false ends the retry as `cancelled`. Default: always wanted. */
  wanted?: () => boolean;
}

/** How a retry ended. */
export type RetryEnd<T> = { ok: true; value: T; attempts: number } | { ok: false; why: 'attempts' | 'window' | 'cancelled'; attempts: number; last: unknown };

/** A running retry: its end, and a way to stop it now (a pending wait is cleared, so no timer is left). */
export interface Retry<T> {
  readonly done: Promise<RetryEnd<T>>;
  cancel(): void;
}

/** The wait before attempt `n` (from 1), ms. */
export function backoffDelay(n: number, o: Pick<BackoffOptions, 'initialMs' | 'maxMs' | 'immediateFirst'>): number {
  const k = o.immediateFirst ? n - 2 : n - 1;
  return k < 0 ? 0 : Math.min(o.maxMs, o.initialMs * 2 ** k);
}

/**
 * Try `attempt` until it resolves, waiting longer after each failure (exponential backoff on the
 * given clock), until the attempts or the window run out or the retry is no longer wanted. The one
 * reconnect loop of the serial consoles and the relay boards.
 */
export function retryWithBackoff<T>(clock: Clock, attempt: (n: number) => Promise<T>, o: BackoffOptions): Retry<T> {
  let cancelled = false;
  let timer: TimerHandle | undefined;
  let wake: (() => void) | undefined;
  const wanted = (): boolean => !cancelled && (o.wanted?.() ?? true);
  const sleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = clock.setTimer(() => {
        timer = undefined;
        wake = undefined;
        resolve();
      }, ms);
    });
  const done = (async (): Promise<RetryEnd<T>> => {
    const start = clock.now();
    let last: unknown;
    for (let n = 1; ; n++) {
      const delay = backoffDelay(n, o);
      if (n > 1 && o.windowMs !== undefined && Number(clock.now() - start) / 1e6 + delay > o.windowMs) return { ok: false, why: 'window', attempts: n - 1, last };
      if (delay > 0) await sleep(delay);
      if (!wanted()) return { ok: false, why: 'cancelled', attempts: n - 1, last };
      try {
        return { ok: true, value: await attempt(n), attempts: n };
      } catch (error) {
        last = error;
      }
      if (!wanted()) return { ok: false, why: 'cancelled', attempts: n, last };
      if (o.maxAttempts !== undefined && n >= o.maxAttempts) return { ok: false, why: 'attempts', attempts: n, last };
    }
  })();
  return {
    done,
    cancel(): void {
      cancelled = true;
      if (timer) clock.clearTimer(timer);
      timer = undefined;
      const w = wake;
      wake = undefined;
      w?.();
    },
  };
}
