/**
 * Names of the observations the harness and the devices produce, in one place: producers record
 * them and the invariants (and anything else that reads the log) import them, so a name is never
 * re-typed and cannot drift.
 */

/** Sources of the harness's own records. */
export const SOURCE = {
  buttons: 'buttons',
  power: 'power',
  http: 'http',
  harness: 'harness',
  /** What the invariants record: violations, test windows. */
  invariants: 'invariants',
} as const;

/** Kinds of the harness's own records, per source. */
export const HARNESS_KIND = {
  press: 'press',
  release: 'release',
  powerOn: 'on',
  powerOff: 'off',
  request: 'request',
  response: 'response',
  httpError: 'http_error',
  boardLost: 'board_lost',
  fault: 'fault',
  /**
   * A relay board performed a press shorter than the harness commanded it (`button`, `reason`):
   * the bench's doing, recorded against that press (a simulated bench reports it; see
   * harness/sim/command-audit.ts).
   */
  shortPress: 'short_press',
} as const;

/**
 * Kinds of device lines: the telemetry kinds of docs/telemetry.md, and what the serial layer
 * records about the link itself (`disconnect`, `truncated`, `fault`).
 */
export const DEVICE_KIND = {
  boot: 'boot',
  wdt: 'wdt',
  edge: 'edge',
  cb: 'cb',
  put: 'q_put',
  drop: 'q_drop',
  get: 'q_get',
  done: 'done',
  hb: 'hb',
  state: 'state',
  disconnect: 'disconnect',
  truncated: 'truncated',
  fault: 'fault',
} as const;

export type DeviceKind = (typeof DEVICE_KIND)[keyof typeof DEVICE_KIND];
