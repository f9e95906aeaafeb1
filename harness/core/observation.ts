/** A field value decoded from a device line. */
export type FieldValue = string | number;

/**
 * One thing the harness saw or did. Everything in a run becomes an observation in one
 * append-only log: serial lines (decoded), relay commands, power changes, HTTP requests, notes,
 * violations.
 */
export interface Observation {
  /** Position in the run's log, from 0. Assigned on append. */
  readonly i: number;
  /** Host monotonic time in ns: arrival for serial lines, command time for actions. */
  readonly t: bigint;
  /** Who: a device (`pi`, `esp`), a board (`relays-a`), `harness`, … No dots. */
  readonly source: string;
  /**
   * What: `line` for an undecoded serial line; a telemetry kind (`q_put`, `hb`, …); a decoder's
   * kind; `press`, `release`, `power`, `http`, `note`, `violation`, `disconnect`, `reconnect`, …
   */
  readonly kind: string;
  /** The serial line as received (decoded UTF-8, without the line ending). */
  readonly text?: string;
  /** Decoded fields. */
  readonly fields?: Readonly<Record<string, FieldValue>>;
  /** Telemetry sequence number (`HIL <seq> …`). */
  readonly seq?: number;
  /** Device clock in µs (`HIL … <t_us> …`). */
  readonly tDev?: number;
}

/** What a producer hands to {@link ObservationLog.append}: an observation without its index. */
export type NewObservation = Omit<Observation, 'i'>;
