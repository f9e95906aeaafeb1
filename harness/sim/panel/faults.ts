/**
 * Deliberately broken panel firmware variants. Each misbehaves the way the real bug does; none
 * prints a line announcing itself.
 *
 * - `lock-in-callback` — panel v3.2: the GPIO callback takes the state lock and then the queue
 *   lock; the processor takes the queue lock and then the state lock. Two presses close together
 *   while the processor is busy deadlock the threads for good (every thread that needs the state
 *   lock blocks; all heartbeats stop).
 * - `blocking-put` — the callback blocks on a full queue instead of refusing; edges pile up behind
 *   it and `cb dur_us` grows to the processor's pace.
 * - `slow-callback` — the callback formats and logs a debug dump: 2–5 ms of real work per press.
 * - `silent-drop` — a full queue loses the event with no `q_drop` and no warning.
 * - `stuck-processor` — EMERGENCY while any pump is STARTING raises in the processor thread
 *   (Python traceback on the console); the thread never restarts and the queue fills.
 * - `bound-off-by-one` — the fullness check is `depth > cap`: the queue holds 101.
 * - `no-debounce` — no bouncetime: contact bounce turns one press into several events.
 */
export type PanelFault =
  | 'lock-in-callback'
  | 'blocking-put'
  | 'slow-callback'
  | 'silent-drop'
  | 'stuck-processor'
  | 'bound-off-by-one'
  | 'no-debounce';

/** Every {@link PanelFault}, for rigs and property searches that iterate them. */
export const PANEL_FAULTS: readonly PanelFault[] = [
  'lock-in-callback',
  'blocking-put',
  'slow-callback',
  'silent-drop',
  'stuck-processor',
  'bound-off-by-one',
  'no-debounce',
];
