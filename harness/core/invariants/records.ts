/**
 * The records the correlator keeps and the report reads: presses, the events a device made of
 * them (edge → callback → put/drop → take → done), HTTP requests, and the per-device state.
 */
import type { FieldValue } from '../observation.ts';
import type { ResolvedDeviceLimits } from './types.ts';

/** A device event as it happened: one time point on the device. */
export interface DevicePoint {
  /** Device µs. */
  tDev: number;
  /** Host arrival ns. */
  t: bigint;
  /** Log index. */
  i: number;
}

export type EventOutcome = 'pending' | 'queued' | 'taken' | 'processed' | 'dropped' | 'lost' | 'power_cut';

/** One event through a device's callback and queue (a press's event, or a request's DB event). */
export interface EventRecord {
  id: number;
  device: string;
  /** `btn=` or `req=` value. */
  key: string;
  /** The firmware's own id for the event (`id=`), when it prints one. */
  eventId?: string;
  button?: string;
  requestId?: string;
  pressId?: number;
  /** A second (third, …) event of one press. */
  duplicate: boolean;
  /** First `edge level=0` line of the event. */
  edge?: DevicePoint & { gpio: number };
  /** `edge level=0` lines counted for it (more than one: contact bounce the firmware logged raw). */
  edges: number;
  cb?: DevicePoint & { durUs: number };
  put?: DevicePoint & { depth: number };
  drop?: DevicePoint & { depth: number };
  get?: DevicePoint & { depth: number };
  done?: DevicePoint;
  /**
   * A later event was taken while this one was still queued: the first such take. Not yet a
   * verdict: taken afterwards it breaks FIFO (`order`); never taken, it was lost from the queue.
   */
  overtaken?: { by: EventRecord; t: bigint; i: number };
  /**
   * The device said its queue held fewer events than the harness still counts as queued (a `depth=`
   * on a heartbeat or a take) while this one was among the oldest of them: it may have left the
   * queue without a line. Not yet a verdict: a take printed late still matches it; never taken,
   * it was lost from the queue.
   */
  gone?: { t: bigint; i: number; depth: number };
  outcome: EventOutcome;
  /** Device boot it happened in (1 = first boot seen). */
  epoch: number;
}

export type PressState = 'open' | 'matched' | 'no_edge' | 'device_off';

export interface PressRecord {
  pressId: number;
  device: string;
  button: string;
  gpio: number;
  holdMs: number | undefined;
  press: { t: bigint; i: number };
  release?: { t: bigint; i: number };
  state: PressState;
  /** Host ns of the first edge (device time placed on the host clock when it was seen). */
  edgeHostT?: bigint;
  /** `edge level=0` lines the device printed for this press (more than one: bounce, logged raw). */
  edges: number;
  /** Events the device made of it: one when healthy. */
  events: EventRecord[];
  /** The device was cut off (power) with this press pending. */
  powerCut: boolean;
  /** Which press of its button this is, from 1 (a bench's report about a press names it so). */
  ordinal: number;
  /** The bench reported that it performed this press shorter than commanded (log index, its words). */
  benchShort?: { i: number; reason: string };
}

export interface RequestRecord {
  requestId: string;
  device: string;
  method: string;
  path: string;
  request: { t: bigint; i: number };
  response?: { t: bigint; i: number; status: number; ms: number };
  error?: { t: bigint; i: number; error: string };
  events: EventRecord[];
}

/**
 * A `q_get` line (and the `done` that follows it on the processor thread): one take from the
 * queue, in take order. `event` is set once it is matched to its `q_put`; until then it is parked
 * (the `q_put` line may still be on its way: printed after the put, by another thread).
 */
export interface TakeRecord {
  key: string;
  /** Set when the key is a request id (`req=`). */
  requestId: string | undefined;
  eventId: string | undefined;
  /** Position in the device's take order (q_get lines, one processor thread, in order). */
  seq: number;
  get: DevicePoint & { depth: number };
  done?: DevicePoint;
  event?: EventRecord;
  /** No q_put matched it within the reorder tolerance: reported, kept only to match its done. */
  orphan: boolean;
  /**
   * Parked although an event of its key the queue had gone past was waiting: the device's put
   * count then. A put of its key arriving after other puts is not its own (one callback thread
   * prints its q_put before its next event's), so it is that passed-over event, taken late.
   */
  parkedAtPuts?: number;
}

export interface ThreadBeat {
  t: bigint;
  i: number;
  tDev: number;
  silent: boolean;
}

/** One device as the correlator tracks it. Rules read it; only the correlator and the liveness rules change it. */
export class DeviceState {
  power: 'on' | 'off' | 'unknown' = 'unknown';
  /** Host time of a power-off whose reset waits for the lines still in flight (powerCutSettleMs). */
  cutAt: bigint | undefined;
  expectBoot = false;
  /** After a wdt line the next boot is explained. */
  resetAnnounced = false;
  epoch = 0;
  lastSeq: number | undefined;
  lastTDev: number | undefined;
  lastGapT: bigint | undefined;
  /** Per button: the event its latest edge (or callback line) opened; cb/q_put/q_drop attach to it. */
  readonly current = new Map<string, EventRecord>();
  /** Button events with no q_put/q_drop yet, oldest first: judged once the reorder tolerance has closed. */
  unsettled: EventRecord[] = [];
  /** Queued (q_put seen) and not yet matched to a take, in put order. */
  queue: EventRecord[] = [];
  /** Takes whose q_put has not been seen yet, in take order. */
  parked: TakeRecord[] = [];
  /** Takes not yet done (matched or parked), in take order. */
  inProgress: TakeRecord[] = [];
  /** Events by the firmware's `id=`, this boot. */
  readonly byId = new Map<string, EventRecord>();
  /** Ids of finished events still in {@link byId}, oldest first. */
  doneIds: string[] = [];
  takeSeq = 0;
  /** q_put lines seen (a parked take notes the count, to tell which puts came after it). */
  puts = 0;
  /** The latest take (in take order) matched to its put so far, for the FIFO check. */
  lastMatched: TakeRecord | undefined;
  readonly threads = new Map<string, ThreadBeat>();
  silentReported = false;
  readonly byReq = new Map<string, EventRecord>();
  readonly gpioButton = new Map<number, string>();
  /** Relay command → placed edge of the device's last matched presses, ns (the bench's own delay: operate time plus link latency). */
  readonly pressToEdge: bigint[] = [];

  /** Median of {@link pressToEdge} once there are 3 samples: the delay a press of this bench shows. */
  typicalPressToEdge(): bigint | undefined {
    if (this.pressToEdge.length < 3) return undefined;
    const s = [...this.pressToEdge].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return s[s.length >> 1];
  }
  hasCb = false;
  hasEdges = false;
  /** It has printed q_put/q_drop for a button: a callback that did neither is a lost event (a device that never does shows no queue to judge). */
  hasButtonQueue = false;
  readonly service: number[] = [];
  lastGet: { tDev: number; depth: number } | undefined;
  private serviceMedian: number | undefined;

  constructor(
    readonly name: string,
    readonly limits: ResolvedDeviceLimits,
  ) {}

  /** A back-to-back q_get interval (µs): the last 64 are kept. */
  addService(us: number): void {
    this.service.push(us);
    if (this.service.length > 64) this.service.shift();
    this.serviceMedian = undefined;
  }

  /** Median back-to-back q_get interval (µs), or the configured service time. Sorted once per new interval, not per look. */
  serviceUs(): number {
    if (this.service.length < 5) return this.limits.drain.serviceMs * 1000;
    if (this.serviceMedian === undefined) {
      const s = [...this.service].sort((a, b) => a - b);
      this.serviceMedian = s[s.length >> 1]!;
    }
    return this.serviceMedian;
  }

  /**
   * How long a queued event may wait for its take, µs: its depth at `q_put` × the observed service
   * time × the drain factor + slack. Past it, a queue that took nothing is not draining, and an
   * event the queue went past was lost from it.
   */
  takeAllowanceUs(e: EventRecord): number {
    const dr = this.limits.drain;
    return (e.put?.depth ?? 0) * this.serviceUs() * dr.factor + dr.slackMs * 1000;
  }
}

/** The words for an event in a violation. */
export function eventName(e: EventRecord): string {
  if (e.pressId !== undefined) return `press #${e.pressId} (${e.key}${e.duplicate ? ', extra event' : ''})`;
  if (e.requestId !== undefined) return `request ${e.requestId}`;
  return `${e.key}${e.eventId !== undefined ? ` id=${e.eventId}` : ''} (no press)`;
}

/** A key=value field as the firmware printed it. */
export type Fields = Readonly<Record<string, FieldValue>>;
