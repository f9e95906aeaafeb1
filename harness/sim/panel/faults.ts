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
 * - `slow-callback` — the callback formats and logs a debug dump: 2–5 ms of (modelled) work per press.
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

/**
 * Instrumentation variants of the healthy firmware: nothing is broken, but the lines reach the
 * wire in an order real firmware produces, which the harness must reconcile without a false
 * verdict.
 *
 * - `racy-q-put` — `q_put` is printed after the put returns (as `queue.put(ev); log(...)` does
 *   in a multi-threaded firmware): the processor may take the event and print its `q_get` first,
 *   and the `depth` printed is the depth at the time of printing.
 * - `raw-edges` — every level change the interrupt thread sees is printed as an `edge` line,
 *   contact bounce included; the debounce still decides which edges reach the callback.
 *
 * Which of the two a press shows is drawn from the run's seed, like every other firmware timing.
 */
export type PanelInstrumentation = 'racy-q-put' | 'raw-edges';

/** Every {@link PanelInstrumentation}. */
export const PANEL_INSTRUMENTATION: readonly PanelInstrumentation[] = ['racy-q-put', 'raw-edges'];
