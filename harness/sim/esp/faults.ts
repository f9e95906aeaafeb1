/**
 * Deliberately broken ESP firmware variants. Each misbehaves the way the real bug does; none
 * prints a line announcing itself.
 *
 * - `esp-sync-db` — the web handlers write to the database synchronously (20–40 ms each) inside
 *   the async_tcp task instead of queueing. One request is harmless; a burst keeps the task busy
 *   back to back, the idle task on its core never runs, and the task watchdog resets the chip.
 */
export type EspFault = 'esp-sync-db';

/** Every {@link EspFault}, for rigs and property searches that iterate them. */
export const ESP_FAULTS: readonly EspFault[] = ['esp-sync-db'];
