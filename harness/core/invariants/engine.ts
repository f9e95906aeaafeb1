/**
 * The invariant engine: a state machine fed one observation at a time, in log order, plus
 * `tick(nowNs)` for deadlines. It never reads a clock and never subscribes to anything, so the
 * live monitor (harness/core/invariants/monitor.ts) and an offline re-check of a recorded run
 * (check.ts) drive the very same code and get the same violations.
 *
 * ## How presses are matched to device lines
 *
 * Telemetry carries no press id, so the engine correlates in three steps:
 *
 * 1. **Press → edge, per channel.** A channel is (device, GPIO) from the rig's button map. The
 *    harness never presses a channel again before it has released and settled (ButtonPresser's
 *    minGapMs), so presses on one channel are strictly sequential and channels are independent:
 *    overlapping presses on different channels cannot be confused. An `edge level=0` on a GPIO
 *    goes to the *oldest* press on that channel still waiting for its edge (FIFO survives late
 *    edges) whose relay command is not later than the edge (the edge's device time placed on the
 *    host clock through the incremental clock fit, or its arrival time before the fit has two
 *    points; `edgeGraceMs` of slack). An edge with no waiting press belongs to the latest press on
 *    the channel if it falls before that press's release + `releaseSettleMs` — a second edge of
 *    one press (bounce); otherwise it is held `edgeGraceMs` for a press record that may arrive
 *    just after it, then reported as an edge nobody pressed (rig). A waiting press whose edge
 *    does not come within `pressToEdgeMs` is a press the device never saw.
 * 2. **Edge → callback lines, per button.** The panel's GPIO callbacks run one at a time and print
 *    `q_put` or `q_drop` before their `cb` line (docs/telemetry.md), so each `q_put`/`q_drop`/`cb`
 *    with `btn=B` belongs to the oldest level-0 edge of B's pin that has not had one yet. A `cb`
 *    for an edge with neither `q_put` nor `q_drop` means the event vanished in the callback.
 * 3. **Queue, per device, FIFO.** `q_put` appends to a model of the device's queue; `q_get` with
 *    key K must take the head (K is `btn=` or `req=`); taking a later event first is an order
 *    violation; a `q_get` with nothing of K queued, or a `done` with nothing of K taken, is an
 *    event processed twice. ESP lines carry `req=`, which is the HTTP request's X-Request-Id, so
 *    requests match by id.
 */
import type { FieldValue, Observation } from '../observation.ts';
import { EpochFits } from './epoch-fits.ts';
import type { InvariantConfig, InvariantName, ResolvedDeviceLimits, Violation, ViolationKind } from './types.ts';

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
  button?: string;
  requestId?: string;
  pressId?: number;
  /** A second (third, …) event of one press. */
  duplicate: boolean;
  edge?: DevicePoint & { gpio: number };
  cb?: DevicePoint & { durUs: number };
  put?: DevicePoint & { depth: number };
  drop?: DevicePoint & { depth: number };
  get?: DevicePoint & { depth: number };
  done?: DevicePoint;
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
  events: EventRecord[];
  /** The device was cut off (power) with this press pending. */
  powerCut: boolean;
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

interface ThreadBeat {
  t: bigint;
  i: number;
  tDev: number;
  silent: boolean;
}

interface Channel {
  /** In press order (host time). */
  presses: PressRecord[];
  /** Index of the first press that may still be open: presses only ever leave `open`. */
  firstOpen: number;
  strays: Array<{ e: EventRecord; hostT: bigint; t: bigint }>;
}

interface Pending {
  key: string;
  value: FieldValue;
  t: bigint;
  i: number;
}

const MS = 1_000_000n;

class DeviceState {
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
  readonly awaitPut = new Map<string, EventRecord[]>();
  readonly awaitCb = new Map<string, EventRecord[]>();
  queue: EventRecord[] = [];
  inProgress: EventRecord[] = [];
  readonly threads = new Map<string, ThreadBeat>();
  silentReported = false;
  readonly byReq = new Map<string, EventRecord>();
  readonly gpioButton = new Map<number, string>();
  hasCb = false;
  hasEdges = false;
  readonly service: number[] = [];
  lastGet: { tDev: number; depth: number } | undefined;
  readonly state = new Map<string, FieldValue>();

  constructor(
    readonly name: string,
    readonly limits: ResolvedDeviceLimits,
  ) {}

  private serviceMedian: number | undefined;

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
}

export type ViolationListener = (v: Violation) => void;

/** See the file comment. */
export class InvariantEngine {
  readonly violations: Violation[] = [];
  readonly presses: PressRecord[] = [];
  readonly events: EventRecord[] = [];
  readonly requests = new Map<string, RequestRecord>();
  /** Incremental per-boot clock fits, fed in log order. */
  readonly fits = new EpochFits();
  private readonly keys = new Set<string>();
  private readonly devices = new Map<string, DeviceState>();
  private readonly channels = new Map<string, Channel>();
  private readonly pressById = new Map<number, PressRecord>();
  private openPresses: PressRecord[] = [];
  private awaitingRequests: RequestRecord[] = [];
  private readonly pending = new Map<string, Pending[]>();
  private nextEventId = 1;
  private now = 0n;
  private lastIndex = -1;
  private readonly listeners: ViolationListener[] = [];

  constructor(readonly config: InvariantConfig) {
    for (const [name, limits] of Object.entries(config.devices)) this.devices.set(name, new DeviceState(name, limits));
    for (const [button, b] of Object.entries(config.buttons)) this.devices.get(b.device)?.gpioButton.set(b.gpio, button);
  }

  /** Hear about each violation as it is found. Returns the unsubscribe. */
  onViolation(fn: ViolationListener): () => void {
    this.listeners.push(fn);
    return () => {
      const k = this.listeners.indexOf(fn);
      if (k >= 0) this.listeners.splice(k, 1);
    };
  }

  /** Newest host time seen (ns). */
  get latestT(): bigint {
    return this.now;
  }

  /** Index of the last observation fed. */
  get lastObserved(): number {
    return this.lastIndex;
  }

  private report(v: Omit<Violation, 'key'> & { key?: string }): void {
    const key = v.key ?? `${v.invariant}:${v.device}:${v.at}`;
    if (this.keys.has(key)) return;
    if (this.config.notJudged.some((n) => n.invariant === v.invariant && n.device === v.device)) return;
    this.keys.add(key);
    const full: Violation = { ...v, key };
    this.violations.push(full);
    for (const l of this.listeners) l(full);
  }

  private dev(name: string): DeviceState | undefined {
    return this.devices.get(name);
  }

  private channel(device: string, gpio: number): Channel {
    const k = `${device}:${gpio}`;
    let c = this.channels.get(k);
    if (!c) {
      c = { presses: [], strays: [], firstOpen: 0 };
      this.channels.set(k, c);
    }
    return c;
  }

  // ---- feeding ---------------------------------------------------------------------------------

  /** Feed one observation (in log order). Runs deadlines up to its time first. */
  observe(o: Observation): void {
    if (o.t > this.now) this.now = o.t;
    this.lastIndex = o.i;
    this.tick(this.now);
    if (o.source === 'invariants') return; // our own records: only their time counts
    this.fits.observe(o);
    const d = this.dev(o.source);
    if (d) {
      this.deviceLine(d, o);
      return;
    }
    const f = o.fields ?? {};
    switch (`${o.source}.${o.kind}`) {
      case 'buttons.press':
        return this.onPress(o, f);
      case 'buttons.release': {
        const p = this.pressById.get(Number(f.press_id));
        if (p) p.release = { t: o.t, i: o.i };
        return;
      }
      case 'power.on':
      case 'power.off':
        return this.onPower(String(f.device), o.kind === 'on');
      case 'http.request':
        return this.onRequest(o, f);
      case 'http.response':
      case 'http.http_error':
        return this.onResponse(o, f);
    }
    if (o.kind === 'board_lost' || (o.kind === 'fault' && o.source !== 'harness')) {
      this.report({ invariant: 'serial-link', device: o.source, t: o.t, at: o.i, kind: 'rig', detail: `${o.source}: ${o.kind}${f.reason !== undefined ? ` (${String(f.reason)})` : ''} at #${o.i}` });
    }
  }

  /**
   * Run every deadline up to `nowNs` minus `settleMs` (lines received but not yet in the log
   * must not be missed). Call it from a timer live; observe() calls it itself.
   */
  tick(nowNs: bigint): void {
    const at = nowNs - BigInt(Math.round(this.config.settleMs * 1e6));
    this.checkPressDeadlines(at);
    this.checkStrays(at);
    const cutSettle = BigInt(Math.round(this.config.powerCutSettleMs * 1e6));
    for (const d of this.devices.values()) {
      if (d.cutAt !== undefined && d.cutAt + cutSettle <= at) this.completeCut(d);
      this.checkHeartbeats(d, at);
      this.checkQueue(d, at);
    }
    this.checkRequests(at);
    this.checkCausality(at);
  }

  // ---- device lines ----------------------------------------------------------------------------

  private deviceLine(d: DeviceState, o: Observation): void {
    const f = o.fields ?? {};
    if (o.kind === 'disconnect') {
      if (d.power !== 'off') this.report({ invariant: 'serial-link', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `the serial port of ${d.name} disconnected at #${o.i} (${String(f.reason ?? '')}); lines may be lost` });
      d.lastSeq = undefined;
      return;
    }
    if (o.kind === 'truncated') {
      this.report({ invariant: 'serial-link', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `a line from ${d.name} was longer than ${String(f.cap)} bytes and was cut at #${o.i} (a garbled or unterminated line on the link)` });
      return;
    }
    if (o.kind === 'fault') {
      this.report({ invariant: 'serial-link', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `${d.name}: ${String(f.reason ?? 'serial fault')}` });
      return;
    }
    if (o.text !== undefined && o.kind !== 'wdt') this.deathPatterns(d, o);
    if (o.seq !== undefined) this.serial(d, o);
    if (o.tDev === undefined) return;
    switch (o.kind) {
      case 'boot':
        return;
      case 'edge':
        return this.onEdge(d, o, f);
      case 'q_put':
      case 'q_drop':
        return this.onPutOrDrop(d, o, f);
      case 'cb':
        return this.onCb(d, o, f);
      case 'q_get':
        return this.onGet(d, o, f);
      case 'done':
        return this.onDone(d, o, f);
      case 'hb':
        return this.onHb(d, o, f);
      case 'state':
        return this.onState(d, o, f);
    }
  }

  private deathPatterns(d: DeviceState, o: Observation): void {
    for (const re of d.limits.deathPatterns) {
      if (re.test(o.text!)) {
        this.report({ invariant: 'death-pattern', device: d.name, t: o.t, at: o.i, kind: 'firmware', detail: `${d.name} printed a forbidden line (${String(re)}) at #${o.i}: ${o.text!.slice(0, 200)}` });
        return;
      }
    }
  }

  /** Sequence numbers, boots and watchdog resets. */
  private serial(d: DeviceState, o: Observation): void {
    const seq = o.seq!;
    if (o.kind === 'boot') {
      this.completeCut(d);
      const explained = d.power === 'unknown' && d.epoch === 0 ? true : d.expectBoot || d.resetAnnounced;
      if (!explained) {
        const lost = this.pendingEventsText(d);
        this.report({ invariant: 'reboot', device: d.name, t: o.t, at: o.i, kind: 'firmware', detail: `${d.name} rebooted without a power cycle (boot line at #${o.i}, previous seq ${d.lastSeq ?? '?'})${lost}` });
      }
      this.resetDevice(d, 'lost');
      d.epoch++;
      d.expectBoot = false;
      d.resetAnnounced = false;
      d.power = 'on';
      d.lastSeq = seq;
      d.lastTDev = o.tDev;
      return;
    }
    if (d.epoch === 0) d.epoch = 1; // the log started after the boot
    if (o.kind === 'wdt') {
      const f = o.fields ?? {};
      const extra = Object.entries(f).map(([k, v]) => `${k}=${v}`).join(' ');
      this.report({ invariant: 'reboot', device: d.name, t: o.t, at: o.i, kind: 'firmware', detail: `${d.name} watchdog reset at #${o.i}${extra ? ` (${extra})` : ''}${this.pendingEventsText(d)}` });
      d.resetAnnounced = true;
    }
    const prev = d.lastSeq;
    if (prev !== undefined) {
      if (seq > prev + 1) {
        d.lastGapT = o.t;
        this.report({ invariant: 'serial-seq', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `lost ${seq - prev - 1} serial line(s) from ${d.name}: seq ${prev} then ${seq} at #${o.i} (a link or host fault, not the firmware)` });
      } else if (seq <= prev) {
        if (o.tDev !== undefined && d.lastTDev !== undefined && o.tDev < d.lastTDev) {
          this.report({ invariant: 'reboot', device: d.name, t: o.t, at: o.i, kind: 'firmware', detail: `${d.name} restarted without a boot line: seq ${prev} then ${seq} and its clock went back at #${o.i}${this.pendingEventsText(d)}` });
          this.resetDevice(d, 'lost');
          d.epoch++;
        } else {
          d.lastGapT = o.t;
          this.report({ invariant: 'serial-seq', device: d.name, t: o.t, at: o.i, kind: 'rig', detail: `serial lines from ${d.name} repeated or out of order: seq ${prev} then ${seq} at #${o.i}` });
        }
      }
    }
    d.lastSeq = seq;
    if (o.tDev !== undefined) d.lastTDev = o.tDev;
  }

  private pendingEventsText(d: DeviceState): string {
    const ids = this.pendingIds(d);
    return ids.length > 0 ? `; events lost with it: ${ids.join(', ')}` : '';
  }

  private pendingIds(d: DeviceState): string[] {
    const out: string[] = [];
    for (const e of [...d.queue, ...d.inProgress]) out.push(this.eventName(e));
    return out;
  }

  /** Power cut or reboot: everything in flight on the device ends with `outcome`. */
  /** The power-off's reset, once the lines in flight at the cut have had their time. */
  private completeCut(d: DeviceState): void {
    if (d.cutAt === undefined) return;
    d.cutAt = undefined;
    this.resetDevice(d, 'power_cut');
  }

  private resetDevice(d: DeviceState, outcome: EventOutcome): void {
    for (const e of [...d.queue, ...d.inProgress]) e.outcome = outcome;
    for (const list of d.awaitPut.values()) for (const e of list) if (e.outcome === 'pending') e.outcome = outcome;
    d.queue = [];
    d.inProgress = [];
    d.awaitPut.clear();
    d.awaitCb.clear();
    d.threads.clear();
    d.silentReported = false;
    d.lastGet = undefined;
    d.lastSeq = undefined;
    d.lastTDev = undefined;
    d.state.clear();
    for (const [k, list] of this.pending) if (k.endsWith(`>${d.name}`) || k.startsWith(`${d.name}>`)) list.length = 0;
  }

  private onPower(device: string, on: boolean): void {
    const d = this.dev(device);
    if (!d) return;
    if (on) {
      this.completeCut(d);
      d.expectBoot = true;
      return;
    }
    d.power = 'off';
    // Not reset yet: lines printed before the cut may still be on the wire (see tick).
    d.cutAt ??= this.now;
    for (const p of this.openPresses) if (p.device === device) p.powerCut = true;
    this.openPresses = this.openPresses.filter((p) => p.device !== device);
  }

  // ---- presses and edges -----------------------------------------------------------------------

  private onPress(o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const button = String(f.button);
    const wiring = this.config.buttons[button];
    if (!wiring) return;
    const d = this.dev(wiring.device);
    const p: PressRecord = {
      pressId: Number(f.press_id),
      device: wiring.device,
      button,
      gpio: wiring.gpio,
      holdMs: f.hold_ms === undefined ? undefined : Number(f.hold_ms),
      press: { t: o.t, i: o.i },
      state: d?.power === 'off' ? 'device_off' : 'open',
      events: [],
      powerCut: false,
    };
    this.presses.push(p);
    this.pressById.set(p.pressId, p);
    const ch = this.channel(p.device, p.gpio);
    ch.presses.push(p);
    if (p.state !== 'open') return;
    this.openPresses.push(p);
    // Edges that came in just before their press record.
    const grace = BigInt(Math.round(this.config.edgeGraceMs * 1e6));
    const mine = ch.strays.filter((s) => s.hostT + grace >= p.press.t);
    ch.strays = ch.strays.filter((s) => s.hostT + grace < p.press.t);
    for (const s of mine) this.attach(s.e, p, s.hostT, o);
  }

  private onEdge(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    if (Number(f.level) !== 0) return;
    const gpio = Number(f.pin);
    d.hasEdges = true;
    const button = d.gpioButton.get(gpio);
    const e = this.newEvent(d, button ?? `gpio${gpio}`);
    if (button !== undefined) e.button = button;
    e.edge = { tDev: o.tDev!, t: o.t, i: o.i, gpio };
    if (button !== undefined) {
      push(d.awaitPut, button, e);
      push(d.awaitCb, button, e);
    }
    const hostT = this.fits.toHost(d.name, o.tDev!)?.t ?? o.t;
    const ch = this.channel(d.name, gpio);
    const grace = BigInt(Math.round(this.config.edgeGraceMs * 1e6));
    // The earliest open press (presses are in time order, so if it is too late, all are); found
    // from a moving index, and the latest one from the end: a long run's thousands of presses on a
    // channel are not walked for every edge.
    while (ch.firstOpen < ch.presses.length && ch.presses[ch.firstOpen]!.state !== 'open') ch.firstOpen++;
    const first = ch.presses[ch.firstOpen];
    if (first && first.press.t <= hostT + grace) {
      this.attach(e, first, hostT, o);
      return;
    }
    let latest: PressRecord | undefined;
    for (let k = ch.presses.length - 1; k >= 0; k--) {
      const p = ch.presses[k]!;
      if (p.press.t <= hostT + grace && p.state !== 'device_off') {
        latest = p;
        break;
      }
    }
    if (latest && hostT <= this.pressEnd(latest)) {
      this.attach(e, latest, hostT, o);
      return;
    }
    ch.strays.push({ e, hostT, t: o.t });
  }

  /** When a press's own edges stop counting: its release (or press + hold) plus the settle time. */
  private pressEnd(p: PressRecord): bigint {
    const end = p.release?.t ?? p.press.t + BigInt(Math.round((p.holdMs ?? 0) * 1e6));
    return end + BigInt(Math.round(this.config.releaseSettleMs * 1e6));
  }

  private attach(e: EventRecord, p: PressRecord, hostT: bigint, o: Observation): void {
    e.pressId = p.pressId;
    if (p.state === 'open') {
      this.openPresses = this.openPresses.filter((x) => x !== p);
    }
    if (p.state === 'open' || p.state === 'no_edge') p.state = 'matched';
    p.events.push(e);
    if (p.events.length === 1) {
      p.edgeHostT = hostT;
      return;
    }
    e.duplicate = true;
    const first = p.events[0]!;
    const dtMs = first.edge && e.edge ? ((e.edge.tDev - first.edge.tDev) / 1000).toFixed(1) : '?';
    this.report({
      invariant: 'exactly-once',
      device: p.device,
      t: o.t,
      at: o.i,
      kind: 'firmware',
      pressId: p.pressId,
      key: `dup-press:${p.pressId}`,
      detail: `press #${p.pressId} (${p.button}) gave ${p.device} a second edge on GPIO ${p.gpio}, ${dtMs} ms after the first (#${o.i}): one press must be one event (contact bounce not debounced?)`,
    });
  }

  private checkPressDeadlines(at: bigint): void {
    if (this.openPresses.length === 0) return;
    const limit = BigInt(Math.round(this.config.pressToEdgeMs * 1e6));
    const keep: PressRecord[] = [];
    for (const p of this.openPresses) {
      const deadline = p.press.t + limit;
      if (deadline >= at) {
        keep.push(p);
        continue;
      }
      p.state = 'no_edge';
      const d = this.dev(p.device);
      const hung = d?.silentReported ?? false;
      this.report({
        invariant: 'exactly-once',
        device: p.device,
        t: deadline,
        at: p.press.i,
        kind: hung ? 'hung' : 'firmware',
        pressId: p.pressId,
        key: `no-edge:${p.pressId}`,
        detail: `press #${p.pressId} (${p.button}): relay energised at #${p.press.i} but ${p.device} printed no edge on GPIO ${p.gpio} within ${this.config.pressToEdgeMs} ms${hung ? ' (the device has stopped)' : ' (input ignored by the firmware, or check the relay and wiring)'}`,
      });
    }
    this.openPresses = keep;
  }

  private checkStrays(at: bigint): void {
    const grace = BigInt(Math.round(this.config.edgeGraceMs * 1e6));
    for (const [k, ch] of this.channels) {
      if (ch.strays.length === 0) continue;
      const keep: Channel['strays'] = [];
      for (const s of ch.strays) {
        if (s.t + grace >= at) {
          keep.push(s);
          continue;
        }
        const [device, gpio] = k.split(':');
        this.report({
          invariant: 'phantom-edge',
          device: device!,
          t: s.t + grace,
          at: s.e.edge!.i,
          kind: 'rig',
          key: `phantom:${s.e.id}`,
          detail: `${device} saw GPIO ${gpio}${s.e.button ? ` (${s.e.button})` : ''} go low at #${s.e.edge!.i} with no press by the harness (someone at the panel, a chattering relay or noise on the line)`,
        });
      }
      ch.strays = keep;
    }
  }

  // ---- callback and queue ----------------------------------------------------------------------

  private newEvent(d: DeviceState, key: string): EventRecord {
    const e: EventRecord = { id: this.nextEventId++, device: d.name, key, duplicate: false, outcome: 'pending', epoch: Math.max(1, d.epoch) };
    this.events.push(e);
    return e;
  }

  private eventName(e: EventRecord): string {
    if (e.pressId !== undefined) return `press #${e.pressId} (${e.key}${e.duplicate ? ', extra event' : ''})`;
    if (e.requestId !== undefined) return `request ${e.requestId}`;
    return `${e.key} (no press)`;
  }

  /** A line that does not fit the model: blamed on the link if the device just lost lines. */
  private recentGap(d: DeviceState, t: bigint): boolean {
    return d.lastGapT !== undefined && t - d.lastGapT < 1000n * MS;
  }

  private keyOf(f: Readonly<Record<string, FieldValue>>): { key: string; button?: string; req?: string } | undefined {
    if (f.btn !== undefined) return { key: String(f.btn), button: String(f.btn) };
    if (f.req !== undefined) return { key: String(f.req), req: String(f.req) };
    return undefined;
  }

  private onPutOrDrop(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const k = this.keyOf(f);
    if (!k) return;
    const depth = Number(f.depth);
    const point = { tDev: o.tDev!, t: o.t, i: o.i, depth };
    let e: EventRecord | undefined;
    if (k.button !== undefined) {
      e = d.awaitPut.get(k.button)?.shift();
      if (!e) {
        e = this.newEvent(d, k.key);
        e.button = k.button;
        if (d.hasEdges && !this.recentGap(d, o.t)) {
          this.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `no-edge-event:${o.i}`, detail: `${d.name} ${o.kind === 'q_put' ? 'queued' : 'refused'} ${k.key} at #${o.i} with no edge before it (an event nobody pressed, or one press handled twice)` });
        }
      }
    } else {
      const prev = d.byReq.get(k.key);
      if (prev && (prev.put || prev.drop)) {
        this.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', requestId: k.key, key: `req-twice:${d.name}:${k.key}:${o.i}`, detail: `request ${k.key} was ${o.kind === 'q_put' ? 'queued' : 'refused'} again at #${o.i} (already ${prev.put ? 'queued' : 'refused'} at #${(prev.put ?? prev.drop)!.i}): one request must be one event` });
      }
      e = this.newEvent(d, k.key);
      e.requestId = k.key;
      d.byReq.set(k.key, e);
      const r = this.requests.get(k.key);
      if (r && r.device === d.name) r.events.push(e);
    }
    const cfgCap = d.limits.queueCapacity;
    const cap = cfgCap ?? (f.cap !== undefined ? Number(f.cap) : undefined);
    if (f.cap !== undefined && cfgCap !== undefined && Number(f.cap) !== cfgCap) {
      this.report({ invariant: 'queue-capacity', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `cap:${d.name}:${String(f.cap)}`, detail: `${d.name} reports queue cap=${String(f.cap)} at #${o.i}, the rig says its capacity is ${cfgCap}` });
    }
    if (o.kind === 'q_put') {
      e.put = point;
      e.outcome = 'queued';
      d.queue.push(e);
      if (cap !== undefined && depth > cap) {
        this.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `bound:${d.name}:${d.epoch}:${depth}`, detail: `${d.name} queued ${this.eventName(e)} to depth ${depth}, above its capacity ${cap} (#${o.i})` });
      }
    } else {
      e.drop = point;
      e.outcome = 'dropped';
      if (cap !== undefined && depth > cap) {
        this.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `bound:${d.name}:${d.epoch}:${depth}`, detail: `${d.name} reports depth ${depth} above its capacity ${cap} while refusing ${this.eventName(e)} (#${o.i})` });
      } else if (cap !== undefined && depth < cap - 1) {
        // The depth on a refusal is read after the failed put (Python's queue.Full, then qsize()):
        // a take by the processor in between shows as cap − 1, so only less than that is room.
        this.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `early-drop:${e.id}`, detail: `${d.name} refused ${this.eventName(e)} at depth ${depth} of ${cap} (#${o.i}): the queue had room` });
      }
    }
  }

  private onCb(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    if (f.btn === undefined) return;
    const button = String(f.btn);
    d.hasCb = true;
    const e = d.awaitCb.get(button)?.shift();
    if (!e) return;
    const durUs = Number(f.dur_us);
    e.cb = { tDev: o.tDev!, t: o.t, i: o.i, durUs };
    if (!e.put && !e.drop) {
      const list = d.awaitPut.get(button);
      if (list) {
        const k = list.indexOf(e);
        if (k >= 0) list.splice(k, 1);
      }
      e.outcome = 'lost';
      if (!this.recentGap(d, o.t)) {
        this.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `vanish:${e.id}`, detail: `${this.eventName(e)}: ${d.name}'s callback ran (cb at #${o.i}) but the event was neither queued (q_put) nor refused (q_drop): it vanished` });
      }
    }
    const lim = d.limits.callbackUs.max;
    if (lim !== undefined && durUs > lim) {
      this.report({ invariant: 'callback-latency', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `cb:${e.id}`, detail: `${this.eventName(e)}: ${d.name}'s callback took ${durUs} µs (limit ${lim} µs, #${o.i})` });
      return;
    }
    const lim2 = d.limits.edgeToCallbackUs.max;
    if (lim2 !== undefined && e.edge && o.tDev! - e.edge.tDev > lim2) {
      this.report({ invariant: 'callback-latency', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, key: `e2cb:${e.id}`, detail: `${this.eventName(e)}: ${o.tDev! - e.edge.tDev} µs from ${d.name}'s edge line to the end of its callback (limit ${lim2} µs, #${o.i})` });
    }
  }

  private onGet(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const k = this.keyOf(f);
    if (!k) return;
    const depth = Number(f.depth);
    const idx = d.queue.findIndex((e) => e.key === k.key);
    if (idx < 0) {
      if (!this.recentGap(d, o.t)) {
        this.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', requestId: k.req, key: `get-none:${o.i}`, detail: `${d.name} took ${k.key} from its queue at #${o.i} but no ${k.key} event was queued (taken twice, or queued without a q_put line)` });
      }
      return;
    }
    const e = d.queue[idx]!;
    if (idx > 0) {
      const ahead = d.queue.slice(0, idx).map((x) => this.eventName(x));
      this.report({ invariant: 'order', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, requestId: e.requestId, key: `order:${e.id}`, detail: `${d.name} took ${this.eventName(e)} (#${o.i}) before ${ahead.slice(0, 3).join(', ')}${ahead.length > 3 ? ` and ${ahead.length - 3} more` : ''}, queued earlier: not FIFO` });
    }
    d.queue.splice(idx, 1);
    e.get = { tDev: o.tDev!, t: o.t, i: o.i, depth };
    e.outcome = 'taken';
    d.inProgress.push(e);
    if (d.lastGet && d.lastGet.depth > 0) {
      d.addService(o.tDev! - d.lastGet.tDev);
    }
    d.lastGet = { tDev: o.tDev!, depth };
  }

  private onDone(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const k = this.keyOf(f);
    if (!k) return;
    const idx = d.inProgress.findIndex((e) => e.key === k.key);
    let e: EventRecord;
    if (idx >= 0) {
      e = d.inProgress[idx]!;
      d.inProgress.splice(idx, 1);
    } else if (k.req !== undefined && !d.byReq.has(k.key)) {
      // Handled in the request itself, without the queue (nothing to match, nothing lost).
      e = this.newEvent(d, k.key);
      e.requestId = k.key;
      d.byReq.set(k.key, e);
      const r = this.requests.get(k.key);
      if (r && r.device === d.name) r.events.push(e);
    } else {
      if (!this.recentGap(d, o.t)) {
        this.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', requestId: k.req, key: `done-none:${o.i}`, detail: `${d.name} finished ${k.key} at #${o.i} with no q_get of ${k.key} before it (an event processed twice?)` });
      }
      return;
    }
    e.done = { tDev: o.tDev!, t: o.t, i: o.i };
    e.outcome = 'processed';
    const lim = d.limits.processingMs.max;
    if (lim !== undefined && e.put) {
      const ms = (o.tDev! - e.put.tDev) / 1000;
      if (ms > lim) {
        this.report({ invariant: 'processing-latency', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: e.pressId, requestId: e.requestId, key: `proc:${e.id}`, detail: `${this.eventName(e)}: ${ms.toFixed(1)} ms from q_put to done on ${d.name} (limit ${lim} ms)` });
      }
    }
  }

  private checkQueue(d: DeviceState, at: bigint): void {
    const head = d.queue[0];
    if (head?.put) {
      const dr = d.limits.drain;
      const allowUs = head.put.depth * d.serviceUs() * dr.factor + dr.slackMs * 1000;
      const deadline = head.put.t + BigInt(Math.round(allowUs * 1000));
      if (deadline < at) {
        this.report({
          invariant: 'drain',
          device: d.name,
          t: deadline,
          at: head.put.i,
          kind: 'hung',
          pressId: head.pressId,
          requestId: head.requestId,
          key: `drain:${head.id}`,
          detail: `${d.name}'s queue is not draining: ${this.eventName(head)}, queued at depth ${head.put.depth} (#${head.put.i}), was not taken within ${(allowUs / 1000).toFixed(0)} ms (depth × ${(d.serviceUs() / 1000).toFixed(1)} ms observed per event × ${dr.factor} + ${dr.slackMs} ms); ${d.queue.length} event(s) waiting`,
        });
      }
    }
    for (const e of d.inProgress) {
      const deadline = e.get!.t + BigInt(Math.round(d.limits.takenTimeoutMs * 1e6));
      if (deadline < at) {
        this.report({ invariant: 'exactly-once', device: d.name, t: deadline, at: e.get!.i, kind: 'hung', pressId: e.pressId, requestId: e.requestId, key: `stuck:${e.id}`, detail: `${this.eventName(e)}: ${d.name} took it from the queue (#${e.get!.i}) but did not finish it within ${d.limits.takenTimeoutMs} ms (processor stuck or dead)` });
      }
    }
  }

  // ---- liveness --------------------------------------------------------------------------------

  private onHb(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const thread = String(f.thread ?? 'main');
    const prev = d.threads.get(thread);
    const hb = d.limits.heartbeat;
    if (hb && prev && !prev.silent) {
      const gapMs = (o.tDev! - prev.tDev) / 1000;
      if (gapMs > hb.periodMs + hb.marginMs) {
        this.report({ invariant: 'heartbeat', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `hb-late:${d.name}:${thread}:${o.i}`, detail: `${d.name} thread ${thread} beat ${gapMs.toFixed(0)} ms after its previous heartbeat (period ${hb.periodMs} ms + margin ${hb.marginMs} ms; #${prev.i} → #${o.i})` });
      }
    }
    d.threads.set(thread, { t: o.t, i: o.i, tDev: o.tDev!, silent: false });
    d.silentReported = [...d.threads.values()].some((b) => b.silent);
    const cap = d.limits.queueCapacity;
    if (cap !== undefined && f.depth !== undefined && Number(f.depth) > cap) {
      this.report({ invariant: 'queue-bound', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `bound:${d.name}:${d.epoch}:${Number(f.depth)}`, detail: `${d.name} heartbeat reports queue depth ${Number(f.depth)} above its capacity ${cap} (#${o.i})` });
    }
  }

  private checkHeartbeats(d: DeviceState, at: bigint): void {
    const hb = d.limits.heartbeat;
    if (!hb || d.power === 'off' || d.threads.size === 0) return;
    const limit = BigInt(Math.round((hb.periodMs + hb.marginMs) * 1e6));
    let silentAll = true;
    let latest = 0n;
    let lastI = -1;
    for (const [thread, b] of d.threads) {
      const deadline = b.t + limit;
      if (deadline >= at) {
        silentAll = false;
        continue;
      }
      if (deadline > latest) [latest, lastI] = [deadline, b.i];
      if (b.silent) continue;
      b.silent = true;
      d.silentReported = true;
      this.report({ invariant: 'heartbeat', device: d.name, t: deadline, at: b.i, kind: 'hung', key: `hb-silent:${d.name}:${thread}:${b.i}`, detail: `${d.name} thread ${thread} has not beaten for ${hb.periodMs + hb.marginMs} ms (last heartbeat at #${b.i}): stuck or dead` });
    }
    if (silentAll && d.threads.size > 1) {
      const depth = d.queue.length;
      this.report({ invariant: 'heartbeat', device: d.name, t: latest, at: lastI, kind: 'hung', key: `hung:${d.name}:${lastI}`, detail: `${d.name} is HUNG: none of its ${d.threads.size} threads (${[...d.threads.keys()].join(', ')}) has beaten for ${hb.periodMs + hb.marginMs} ms; queue frozen at depth ${depth}${depth > 0 ? ` (${this.pendingIds(d).slice(0, 5).join(', ')}${depth > 5 ? ', …' : ''})` : ''}` });
    }
  }

  // ---- HTTP requests ---------------------------------------------------------------------------

  private onRequest(o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const r: RequestRecord = { requestId: String(f.request_id), device: String(f.device), method: String(f.method ?? ''), path: String(f.path ?? ''), request: { t: o.t, i: o.i }, events: [] };
    this.requests.set(r.requestId, r);
    // A device line may have come before the request record.
    const e = this.dev(r.device)?.byReq.get(r.requestId);
    if (e) r.events.push(e);
  }

  private onResponse(o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    const r = this.requests.get(String(f.request_id));
    if (!r) return;
    if (o.kind === 'http_error') {
      r.error = { t: o.t, i: o.i, error: String(f.error ?? '') };
      return;
    }
    r.response = { t: o.t, i: o.i, status: Number(f.status), ms: Number(f.ms) };
    const e = r.events[0];
    if (r.response.status === 202) {
      if (e?.drop) this.report({ invariant: 'exactly-once', device: r.device, t: o.t, at: o.i, kind: 'firmware', requestId: r.requestId, key: `req-202-drop:${r.requestId}`, detail: `request ${r.requestId} was answered 202 (queued) but ${r.device} refused it (q_drop at #${e.drop.i})` });
      else if (!e) this.awaitingRequests.push(r);
    } else if (r.response.status === 503) {
      if (e?.put) this.report({ invariant: 'exactly-once', device: r.device, t: o.t, at: o.i, kind: 'firmware', requestId: r.requestId, key: `req-503-put:${r.requestId}`, detail: `request ${r.requestId} was answered 503 (refused) but ${r.device} queued it (q_put at #${e.put.i})` });
    }
  }

  private checkRequests(at: bigint): void {
    if (this.awaitingRequests.length === 0) return;
    const limit = BigInt(Math.round(this.config.requestEventMs * 1e6));
    this.awaitingRequests = this.awaitingRequests.filter((r) => {
      if (r.events.length > 0) return false;
      const deadline = r.response!.t + limit;
      if (deadline >= at) return true;
      const d = this.dev(r.device);
      if (d?.power === 'off') return false;
      this.report({ invariant: 'exactly-once', device: r.device, t: deadline, at: r.response!.i, kind: 'firmware', requestId: r.requestId, key: `req-lost:${r.requestId}`, detail: `request ${r.requestId} (${r.method} ${r.path}) was answered 202 (queued) but ${r.device} printed no q_put req=${r.requestId} within ${this.config.requestEventMs} ms: the event vanished` });
      return false;
    });
  }

  // ---- cross-device causality ------------------------------------------------------------------

  private onState(d: DeviceState, o: Observation, f: Readonly<Record<string, FieldValue>>): void {
    for (const rule of this.config.causality) {
      const list = this.pendingList(rule.from, rule.to);
      if (rule.from === d.name) {
        const to = this.dev(rule.to);
        for (const key of rule.keys) {
          const v = f[key];
          if (v === undefined) continue;
          const before = d.state.get(key);
          d.state.set(key, v);
          if (before === undefined || String(before) === String(v)) continue;
          if (to?.power === 'off') continue;
          list.push({ key, value: v, t: o.t, i: o.i });
        }
      }
      if (rule.to === d.name && Object.entries(rule.toFields).every(([k, v]) => String(f[k]) === String(v))) {
        for (const key of rule.keys) {
          if (f[key] === undefined) continue;
          let last = -1;
          for (let k = 0; k < list.length; k++) if (list[k]!.key === key && String(list[k]!.value) === String(f[key])) last = k;
          if (last < 0) continue;
          // Seen: this change and every earlier change of the same key (superseded) are done.
          const seen = list.filter((p, k) => k <= last && p.key === key);
          for (const p of seen) list.splice(list.indexOf(p), 1);
        }
      }
    }
  }

  private pendingList(from: string, to: string): Pending[] {
    const k = `${from}>${to}`;
    let l = this.pending.get(k);
    if (!l) {
      l = [];
      this.pending.set(k, l);
    }
    return l;
  }

  private checkCausality(at: bigint): void {
    for (const rule of this.config.causality) {
      const list = this.pending.get(`${rule.from}>${rule.to}`);
      if (!list || list.length === 0) continue;
      const limit = BigInt(Math.round(rule.withinMs * 1e6));
      for (let k = 0; k < list.length; ) {
        const p = list[k]!;
        const deadline = p.t + limit;
        if (deadline >= at) {
          k++;
          continue;
        }
        list.splice(k, 1);
        this.report({ invariant: 'causality', device: rule.to, t: deadline, at: p.i, kind: 'firmware', key: `causal:${rule.from}>${rule.to}:${p.i}:${p.key}`, detail: `${rule.from} changed ${p.key} to ${p.value} (#${p.i}) but ${rule.to} did not show it within ${rule.withinMs} ms` });
      }
    }
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

/** Kind names, re-exported for the report. */
export type { InvariantName, ViolationKind };
