/**
 * The correlator: owns the per-device records (press ↔ edge ↔ callback ↔ put ↔ take ↔ done, and
 * HTTP requests) and tells the rules what it established, as facts. It never judges; the rules in
 * rules/ do. Fed one observation at a time, in log order, plus `tick(at)` for deadlines, with no
 * clock of its own, so the live monitor and `hil check` get the same records.
 *
 * ## How device lines are matched, whatever order they arrive in
 *
 * A firmware prints from several threads, and (docs/telemetry.md) logs *after* the operation, so
 * the lines of one event need not arrive in the order things happened: the processor's `q_get`
 * (even its `done`) can arrive before the callback's `q_put`, and `cb` may come before or after
 * `q_put`/`q_drop`. What does hold is that each thread prints its own lines in its own order: the
 * callback thread's `edge`, `cb`, `q_put`/`q_drop` lines are in callback order, hence the `q_put`
 * lines are in put order; the processor's `q_get` lines are in take order, each followed by its
 * `done`. Matching rests on that alone:
 *
 * 1. **Press → edge, per channel.** A channel is (device, GPIO) from the rig's button map. The
 *    harness never presses a channel again before it has released and settled, so presses on one
 *    channel are sequential and channels are independent. An `edge level=0` goes to the oldest
 *    press on its channel still waiting for an edge whose relay command is not later than the edge
 *    (its device time placed on the host clock, `edgeGraceMs` of slack, used only when no earlier
 *    press with an event is still settling: then the edge is that press's bounce); otherwise to
 *    the latest press if it falls before that press's release + `releaseSettleMs`; otherwise it is
 *    held `edgeGraceMs` for a press record just behind it, then reported as an edge nobody pressed.
 *    Every further edge of a press is bounce: counted on the press and its event, no violation.
 * 2. **Edge → event, per button.** A press's first edge opens its event; the button's `cb`,
 *    `q_put`, `q_drop` lines attach to the event the latest edge opened. A second `q_put`/`q_drop`
 *    for one press is a second *event*: the exactly-once violation. An event with a `cb` (or, on a
 *    firmware that prints no `cb`, an edge) and neither `q_put` nor `q_drop` once
 *    `reorderToleranceMs` has closed vanished.
 * 3. **Put ↔ take, per device.** With `id=` on the lines, a take matches the put of the same id,
 *    whatever the order. Without, the n-th take of key K (`btn=`/`req=`) matches the n-th put of K.
 *    A take whose put has not arrived is parked; its put, when it comes, matches it; after the
 *    tolerance it is a take of something never queued. FIFO is judged on put order against take
 *    order: when a pair matches, an event put before it and not yet taken, or a take after it
 *    already matched to an earlier put, means the processor took out of order. A `done` belongs
 *    to the oldest take of its key (or id) not yet done: the same thread printed both.
 */
import type { Observation } from '../observation.ts';
import { DEVICE_KIND as K, HARNESS_KIND as H, SOURCE } from '../topics.ts';
import { EpochFits } from './epoch-fits.ts';
import { DeviceState, eventName, type EventOutcome, type EventRecord, type Fields, type PressRecord, type RequestRecord, type TakeRecord } from './records.ts';
import type { Facts } from './rule.ts';
import type { InvariantConfig } from './types.ts';

export type Emit = <N extends keyof Facts>(name: N, fact: Facts[N]) => void;

interface Channel {
  /** In press order (host time). */
  presses: PressRecord[];
  /** Index of the first press that may still be open: presses only ever leave `open`. */
  firstOpen: number;
  strays: Array<{ e: EventRecord; hostT: bigint; t: bigint }>;
}

const MS = 1_000_000n;
/** Finished events whose id is still recognised. */
const DONE_IDS_KEPT = 256;
const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));
/** Outcomes no later line changes. */
const FINAL = new Set<EventOutcome>(['processed', 'dropped', 'lost', 'power_cut']);
/** The newest log index of an event's lines. */
function lastIndex(e: EventRecord): number {
  return Math.max(e.edge?.i ?? -1, e.cb?.i ?? -1, e.put?.i ?? -1, e.drop?.i ?? -1, e.get?.i ?? -1, e.done?.i ?? -1);
}

export class Correlator {
  readonly presses: PressRecord[] = [];
  readonly events: EventRecord[] = [];
  readonly requests = new Map<string, RequestRecord>();
  /** Incremental per-boot clock fits, fed in log order. */
  readonly fits = new EpochFits();
  readonly devices = new Map<string, DeviceState>();
  private readonly channels = new Map<string, Channel>();
  private readonly pressById = new Map<number, PressRecord>();
  /** Presses of each button so far (a press's {@link PressRecord.ordinal}). */
  private readonly pressesOf = new Map<string, number>();
  private openPresses: PressRecord[] = [];
  private nextEventId = 1;
  /** Newest host time seen. */
  now = 0n;
  private readonly tolerance: bigint;
  /** Lowest log index a window may still ask about (see {@link retainFrom}). */
  private retain = 0;
  private prunedAt = 0;

  constructor(
    readonly config: InvariantConfig,
    private readonly emit: Emit,
  ) {
    for (const [name, limits] of Object.entries(config.devices)) this.devices.set(name, new DeviceState(name, limits));
    for (const [button, b] of Object.entries(config.buttons)) this.devices.get(b.device)?.gpioButton.set(b.gpio, button);
    this.tolerance = ms(config.reorderToleranceMs);
  }

  /** A line that does not fit the model: blamed on the link if the device just lost lines. */
  recentGap(d: DeviceState, t: bigint): boolean {
    return d.lastGapT !== undefined && t - d.lastGapT < 1000n * MS;
  }

  /** What is in flight on a device (queued or taken), by name. */
  pendingIds(d: DeviceState): string[] {
    const out = d.queue.map(eventName);
    for (const t of d.inProgress) out.push(t.event ? eventName(t.event) : `${t.key}${t.eventId !== undefined ? ` id=${t.eventId}` : ''}`);
    return out;
  }

  // ---- pruning -------------------------------------------------------------------------------

  /**
   * No window will ask about observations before `index` any more: records that are final and lie
   * wholly before it may be dropped (a soak must not keep every press it ever made). Only moves
   * forward. Nothing is dropped until someone calls this.
   */
  retainFrom(index: number): void {
    if (index > this.retain) this.retain = index;
  }

  /**
   * Drop what is judged: presses, events and requests whose every line is before the retained
   * index, that have their final outcome, and that no later line can still attach to (the event a
   * button's next callback line would join, a channel's latest press, a press whose edges could
   * still come, a 202 still waiting for its event). Recent request ids stay known (a second
   * `q_put` of one id is still named). Runs at most once per `every` observations' worth of
   * index, so its cost is spread thin.
   */
  prune(at: bigint, every = 4096): void {
    const w = this.retain;
    if (w - this.prunedAt < every) return;
    this.prunedAt = w;
    const tol = this.tolerance + ms(this.config.edgeGraceMs);
    const gone = new Set<EventRecord>();
    const eventDone = (e: EventRecord): boolean => {
      if (gone.has(e)) return true;
      if (!FINAL.has(e.outcome) || lastIndex(e) >= w) return false;
      if (e.button !== undefined && this.devices.get(e.device)?.current.get(e.button) === e) return false;
      gone.add(e);
      return true;
    };
    const pressDone = (p: PressRecord, ch: Channel | undefined): boolean =>
      p.state !== 'open' &&
      p.press.i < w &&
      (p.release === undefined ? p.state === 'device_off' : p.release.i < w) &&
      this.pressEnd(p) + tol < at &&
      ch?.presses[ch.presses.length - 1] !== p &&
      p.events.every(eventDone);
    let keepPresses = 0;
    const prunedPresses = new Set<PressRecord>();
    for (const p of this.presses) {
      if (pressDone(p, this.channels.get(`${p.device}:${p.gpio}`))) prunedPresses.add(p);
      else this.presses[keepPresses++] = p;
    }
    this.presses.length = keepPresses;
    if (prunedPresses.size > 0) {
      for (const p of prunedPresses) this.pressById.delete(p.pressId);
      for (const ch of this.channels.values()) {
        ch.presses = ch.presses.filter((p) => !prunedPresses.has(p));
        ch.firstOpen = 0;
      }
    }
    const reqLimit = ms(this.config.requestEventMs);
    for (const [id, r] of this.requests) {
      const end = r.response ?? r.error;
      if (r.request.i >= w || !end || end.i >= w) continue;
      if (r.events.length === 0 ? end.t + reqLimit + this.tolerance >= at : !r.events.every(eventDone)) continue;
      this.requests.delete(id);
    }
    let keepEvents = 0;
    for (const e of this.events) {
      // Events of no press and no request (a device's own) are judged the same way.
      if (gone.has(e) || (e.pressId === undefined && e.requestId === undefined && eventDone(e))) continue;
      if (e.pressId !== undefined && !this.pressById.has(e.pressId) && eventDone(e)) continue;
      if (e.requestId !== undefined && !this.requests.has(e.requestId) && eventDone(e)) continue;
      this.events[keepEvents++] = e;
    }
    this.events.length = keepEvents;
    for (const d of this.devices.values()) {
      // Request ids: the newest stay known, so a second q_put of one is still named as such.
      let excess = d.byReq.size - DONE_IDS_KEPT;
      if (excess <= 0) continue;
      for (const [k, e] of d.byReq) {
        if (excess <= 0) break;
        if (!FINAL.has(e.outcome) || lastIndex(e) >= w) continue;
        d.byReq.delete(k);
        excess--;
      }
    }
  }

  // ---- feeding ---------------------------------------------------------------------------------

  /** Feed one observation (in log order). The caller runs deadlines first. */
  observe(o: Observation): void {
    this.fits.observe(o);
    const d = this.devices.get(o.source);
    if (d) return this.deviceLine(d, o);
    const f = o.fields ?? {};
    switch (o.source) {
      case SOURCE.buttons:
        if (o.kind === H.press) return this.onPress(o, f);
        if (o.kind === H.release) {
          const p = this.pressById.get(Number(f.press_id));
          if (p) p.release = { t: o.t, i: o.i };
        }
        return;
      case SOURCE.power:
        if (o.kind === H.powerOn || o.kind === H.powerOff) this.onPower(String(f.device), o.kind === H.powerOn);
        return;
      case SOURCE.http:
        if (o.kind === H.request) return this.onRequest(o, f);
        if (o.kind === H.response || o.kind === H.httpError) return this.onResponse(o, f);
        return;
    }
    if (o.kind === H.shortPress) return this.onShortPress(o, f);
    if (o.kind === H.boardLost || (o.kind === H.fault && o.source !== SOURCE.harness)) this.emit('boardFault', { o, f });
  }

  /**
   * A board performed the `press`-th press of `button` shorter than commanded. Commands reach a
   * board in the order they were written, so its count of presses is the harness's: the report is
   * about the harness's press of that number, however late the link delivered it.
   */
  private onShortPress(o: Observation, f: Fields): void {
    const wiring = this.config.buttons[String(f.button)];
    if (!wiring) return;
    const n = Number(f.press);
    const p = this.channel(wiring.device, wiring.gpio).presses.find((q) => q.button === String(f.button) && q.ordinal === n);
    if (p) p.benchShort ??= { i: o.i, reason: String(f.reason ?? 'performed shorter than commanded') };
  }

  /** Deadlines of the records up to `at` (host ns, already settled). */
  tick(at: bigint): void {
    this.checkPressDeadlines(at);
    this.checkStrays(at);
    const cutSettle = ms(this.config.powerCutSettleMs);
    for (const d of this.devices.values()) {
      if (d.cutAt !== undefined && d.cutAt + cutSettle <= at) this.completeCut(d);
      if (d.unsettled.length > 0) this.checkUnsettled(d, at);
      if (d.parked.length > 0) this.checkParked(d, at);
    }
  }

  // ---- device lines ----------------------------------------------------------------------------

  private deviceLine(d: DeviceState, o: Observation): void {
    const f = o.fields ?? {};
    const line = { d, o, f };
    switch (o.kind) {
      case K.disconnect:
        this.emit('link', line);
        d.lastSeq = undefined;
        return;
      case K.truncated:
      case K.fault:
        this.emit('link', line);
        return;
    }
    if (o.text !== undefined && o.kind !== K.wdt) this.emit('text', line);
    if (o.seq !== undefined) this.serial(d, o);
    if (o.tDev === undefined) return;
    switch (o.kind) {
      case K.edge:
        return this.onEdge(d, o, f);
      case K.put:
      case K.drop:
        return this.onPutOrDrop(d, o, f);
      case K.cb:
        return this.onCb(d, o, f);
      case K.get:
        return this.onGet(d, o, f);
      case K.done:
        return this.onDone(d, o, f);
      case K.hb:
        this.depthWitness(d, o, f);
        return this.emit('hb', line);
      case K.state:
        return this.emit('state', line);
    }
  }

  /**
   * A line that reports the device's queue depth (`depth=` on a heartbeat or a take): when it is
   * below what the harness still counts as queued, the oldest of those may have left the queue
   * without a line (discarded). They are marked; a late take still matches them, and one never
   * taken is judged lost at its drain deadline instead of leaving the queue "not draining".
   */
  private depthWitness(d: DeviceState, o: Observation, f: Fields): void {
    if (f.depth === undefined) return;
    const depth = Number(f.depth);
    if (!Number.isFinite(depth)) return;
    // A later report of as many as the harness counts clears the marks: the earlier one raced a
    // put (read before it, printed after its q_put), as a healthy device's can.
    const missing = d.queue.length - depth;
    d.queue.forEach((e, j) => {
      if (j < missing) e.gone ??= { t: o.t, i: o.i, depth };
      else delete e.gone;
    });
  }

  /** Sequence numbers, boots and watchdog resets. */
  private serial(d: DeviceState, o: Observation): void {
    const seq = o.seq!;
    if (o.kind === K.boot) {
      this.completeCut(d);
      const explained = d.power === 'unknown' && d.epoch === 0 ? true : d.expectBoot || d.resetAnnounced;
      if (!explained) this.emit('reboot', { d, o, how: 'boot', prev: d.lastSeq, lost: this.pendingIds(d) });
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
    if (o.kind === K.wdt) {
      this.emit('reboot', { d, o, how: 'wdt', prev: d.lastSeq, lost: this.pendingIds(d) });
      d.resetAnnounced = true;
    }
    const prev = d.lastSeq;
    if (prev !== undefined) {
      if (seq > prev + 1) {
        d.lastGapT = o.t;
        this.emit('seqGap', { d, o, prev, seq });
      } else if (seq <= prev) {
        if (o.tDev !== undefined && d.lastTDev !== undefined && o.tDev < d.lastTDev) {
          this.emit('reboot', { d, o, how: 'clock', prev, lost: this.pendingIds(d) });
          this.resetDevice(d, 'lost');
          d.epoch++;
        } else {
          d.lastGapT = o.t;
          this.emit('seqRepeat', { d, o, prev, seq });
        }
      }
    }
    d.lastSeq = seq;
    if (o.tDev !== undefined) d.lastTDev = o.tDev;
  }

  /** The power-off's reset, once the lines in flight at the cut have had their time. */
  private completeCut(d: DeviceState): void {
    if (d.cutAt === undefined) return;
    d.cutAt = undefined;
    this.resetDevice(d, 'power_cut');
  }

  /** Power cut or reboot: everything in flight on the device ends with `outcome`. */
  private resetDevice(d: DeviceState, outcome: EventOutcome): void {
    for (const e of d.queue) e.outcome = outcome;
    for (const t of d.inProgress) if (t.event) t.event.outcome = outcome;
    for (const e of d.unsettled) if (e.outcome === 'pending') e.outcome = outcome;
    d.queue = [];
    d.inProgress = [];
    d.parked = [];
    d.unsettled = [];
    d.current.clear();
    d.byId.clear();
    d.doneIds = [];
    d.lastMatched = undefined;
    d.threads.clear();
    d.silentReported = false;
    d.lastGet = undefined;
    d.lastSeq = undefined;
    d.lastTDev = undefined;
    this.emit('reset', { d });
  }

  private onPower(device: string, on: boolean): void {
    const d = this.devices.get(device);
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

  private channel(device: string, gpio: number): Channel {
    const k = `${device}:${gpio}`;
    let c = this.channels.get(k);
    if (!c) {
      c = { presses: [], strays: [], firstOpen: 0 };
      this.channels.set(k, c);
    }
    return c;
  }

  private onPress(o: Observation, f: Fields): void {
    const button = String(f.button);
    const wiring = this.config.buttons[button];
    if (!wiring) return;
    const d = this.devices.get(wiring.device);
    const ordinal = (this.pressesOf.get(button) ?? 0) + 1;
    this.pressesOf.set(button, ordinal);
    const p: PressRecord = {
      pressId: Number(f.press_id),
      ordinal,
      device: wiring.device,
      button,
      gpio: wiring.gpio,
      holdMs: f.hold_ms === undefined ? undefined : Number(f.hold_ms),
      press: { t: o.t, i: o.i },
      state: d?.power === 'off' ? 'device_off' : 'open',
      edges: 0,
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
    const grace = ms(this.config.edgeGraceMs);
    const mine = ch.strays.filter((s) => s.hostT + grace >= p.press.t);
    if (mine.length === 0) return;
    ch.strays = ch.strays.filter((s) => s.hostT + grace < p.press.t);
    for (const s of mine) {
      p.edges += s.e.edges;
      // A later edge of the same press, held as a stray, is bounce, unless it already made an event.
      if (p.events.length === 0 || !d || s.e.put || s.e.drop || s.e.cb) {
        this.attach(s.e, p, s.hostT);
        continue;
      }
      const first = p.events[0]!;
      first.edges += s.e.edges;
      this.forget(d, s.e);
      if (d.current.get(s.e.key) === s.e) d.current.set(s.e.key, first);
    }
  }

  /** Drop an event record that turned out to be part of another (a bounce held as a stray). */
  private forget(d: DeviceState, e: EventRecord): void {
    const k = this.events.lastIndexOf(e);
    if (k >= 0) this.events.splice(k, 1);
    const u = d.unsettled.indexOf(e);
    if (u >= 0) d.unsettled.splice(u, 1);
  }

  private onEdge(d: DeviceState, o: Observation, f: Fields): void {
    if (Number(f.level) !== 0) return;
    const gpio = Number(f.pin);
    d.hasEdges = true;
    const button = d.gpioButton.get(gpio);
    const hostT = this.fits.hostT(d.name, o.tDev!) ?? o.t;
    const ch = this.channel(d.name, gpio);
    const grace = ms(this.config.edgeGraceMs);
    // The earliest open press (presses are in time order, so if it is too late, all are); found
    // from a moving index, and the latest one from the end: a long run's thousands of presses on a
    // channel are not walked for every edge.
    while (ch.firstOpen < ch.presses.length && ch.presses[ch.firstOpen]!.state !== 'open') ch.firstOpen++;
    let target: PressRecord | undefined;
    const first = ch.presses[ch.firstOpen];
    // A press commanded after the edge's placement did not make it: a placement is not early (the
    // clock fit is a lower envelope of arrivals, and a press is dated before its command is written;
    // a healthy edge lands 6 ms or more after its press on the sim). The grace is for an edge that
    // nothing else explains. An earlier press of the channel that has its event and is still
    // settling does: the edge is its bounce, which a loaded link delivered after the next press
    // was commanded. Given to that press (placed 40–49 ms before its command, at load 4–5), it
    // opened the press's event, and the press's own callback was timed from it: 58–72 ms.
    // Only on a grown-up fit: a young one (a boot's first 64 lines or 5 s, every power cycle) can
    // place a line early too, and a press's own edge would then be taken for the bounce of the one
    // before it.
    const owner = first && first.press.t > hostT && first.press.t <= hostT + grace && this.fits.isYoung(d.name) === false ? this.settlingAt(ch, hostT, hostT) : undefined;
    if (owner && owner.events.length > 0) target = owner;
    else if (first && first.press.t <= hostT + grace) {
      target = first;
      // The oldest press still waiting takes the edge (a placed edge is late by the link's delay,
      // so "the press just before it" can be the wrong one) — unless a later press fits the bench's
      // own command-to-edge delay better: a press whose contact never closed must not take the
      // next press's edge, which would shift every later edge of the channel onto the press before
      // it and blame the last one for an edge it had.
      const typical = d.typicalPressToEdge();
      if (typical !== undefined) {
        const off = (p: PressRecord): bigint => {
          const x = hostT - p.press.t - typical;
          return x < 0n ? -x : x;
        };
        for (let k = ch.firstOpen + 1; k < ch.presses.length; k++) {
          const p = ch.presses[k]!;
          if (p.press.t > hostT + grace) break;
          if (p.state === 'open' && off(p) < off(target)) target = p;
        }
      }
    } else target = this.settlingAt(ch, hostT, hostT + grace);
    if (target && target.events.length > 0) {
      // Another edge of a press that already has its event: contact bounce, logged raw.
      target.edges++;
      target.events[target.events.length - 1]!.edges++;
      return;
    }
    if (!target) {
      const last = ch.strays[ch.strays.length - 1];
      if (last && hostT - last.hostT <= grace) {
        last.e.edges++;
        return;
      }
    }
    const e = this.newEvent(d, button ?? `gpio${gpio}`);
    if (button !== undefined) e.button = button;
    e.edge = { tDev: o.tDev!, t: o.t, i: o.i, gpio };
    e.edges = 1;
    if (button !== undefined) {
      d.current.set(button, e);
      d.unsettled.push(e);
    }
    if (target) {
      target.edges++;
      d.pressToEdge.push(hostT - target.press.t);
      if (d.pressToEdge.length > 15) d.pressToEdge.shift();
      this.attach(e, target, hostT);
    } else ch.strays.push({ e, hostT, t: o.t });
  }

  /**
   * The channel's latest press commanded no later than `upTo` (and not while its device was off),
   * if `hostT` is still within its own edges' time ({@link pressEnd}).
   */
  private settlingAt(ch: Channel, hostT: bigint, upTo: bigint): PressRecord | undefined {
    for (let k = ch.presses.length - 1; k >= 0; k--) {
      const p = ch.presses[k]!;
      if (p.press.t <= upTo && p.state !== 'device_off') return hostT <= this.pressEnd(p) ? p : undefined;
    }
    return undefined;
  }

  /** When a press's own edges stop counting: its release (or press + hold) plus the settle time. */
  private pressEnd(p: PressRecord): bigint {
    const end = p.release?.t ?? p.press.t + ms(p.holdMs ?? 0);
    return end + ms(this.config.releaseSettleMs);
  }

  private attach(e: EventRecord, p: PressRecord, hostT: bigint): void {
    e.pressId = p.pressId;
    if (p.state === 'open') this.openPresses = this.openPresses.filter((x) => x !== p);
    if (p.state === 'open' || p.state === 'no_edge') p.state = 'matched';
    if (p.events.length === 0) p.edgeHostT = hostT;
    else e.duplicate = true;
    p.events.push(e);
  }

  private checkPressDeadlines(at: bigint): void {
    if (this.openPresses.length === 0) return;
    const limit = ms(this.config.pressToEdgeMs);
    const keep: PressRecord[] = [];
    for (const p of this.openPresses) {
      const deadline = p.press.t + limit;
      if (deadline >= at) {
        keep.push(p);
        continue;
      }
      p.state = 'no_edge';
      this.emit('noEdge', { p, deadline, hung: this.devices.get(p.device)?.silentReported ?? false });
    }
    this.openPresses = keep;
  }

  private checkStrays(at: bigint): void {
    const grace = ms(this.config.edgeGraceMs);
    for (const [k, ch] of this.channels) {
      if (ch.strays.length === 0) continue;
      const keep: Channel['strays'] = [];
      for (const s of ch.strays) {
        if (s.t + grace >= at) keep.push(s);
        else this.emit('phantom', { device: k.slice(0, k.lastIndexOf(':')), gpio: s.e.edge!.gpio, e: s.e, t: s.t + grace });
      }
      ch.strays = keep;
    }
  }

  // ---- callback --------------------------------------------------------------------------------

  private newEvent(d: DeviceState, key: string): EventRecord {
    const e: EventRecord = { id: this.nextEventId++, device: d.name, key, duplicate: false, edges: 0, outcome: 'pending', epoch: Math.max(1, d.epoch) };
    this.events.push(e);
    return e;
  }

  /** The event a button's callback line belongs to: the one its latest edge opened, unless that already has this kind of line. */
  private callbackEvent(d: DeviceState, button: string, taken: (e: EventRecord) => boolean): EventRecord | undefined {
    const cur = d.current.get(button);
    if (cur && !taken(cur)) return cur;
    if (cur?.pressId === undefined) return undefined;
    // A second callback of one press (its edges bounced and each ran the callback).
    const p = this.pressById.get(cur.pressId)!;
    const e = this.newEvent(d, button);
    e.button = button;
    e.edge = cur.edge;
    this.attach(e, p, p.edgeHostT ?? cur.edge?.t ?? 0n);
    d.current.set(button, e);
    d.unsettled.push(e);
    return e;
  }

  private onCb(d: DeviceState, o: Observation, f: Fields): void {
    if (f.btn === undefined) return;
    const button = String(f.btn);
    d.hasCb = true;
    let e = this.callbackEvent(d, button, (x) => x.cb !== undefined);
    if (!e) {
      // A callback line with no edge before it: its event is what its q_put/q_drop will say.
      e = this.newEvent(d, button);
      e.button = button;
      d.current.set(button, e);
      d.unsettled.push(e);
    }
    e.cb = { tDev: o.tDev!, t: o.t, i: o.i, durUs: Number(f.dur_us) };
    this.emit('cb', { d, o, f, e });
  }

  /** Button events that got neither q_put nor q_drop: vanished once the tolerance has closed. */
  private checkUnsettled(d: DeviceState, at: bigint): void {
    const keep: EventRecord[] = [];
    for (const e of d.unsettled) {
      if (e.put || e.drop || e.outcome !== 'pending') continue;
      // A firmware that prints `cb` ends every callback with one: wait for it (a callback that
      // never ends is the heartbeat's to judge). One that prints none is judged from its edge.
      const evidence = e.cb ?? (d.hasCb ? undefined : e.edge);
      if (!evidence || evidence.t + this.tolerance >= at) {
        keep.push(e);
        continue;
      }
      // A device that has never printed q_put/q_drop for a button shows no queue to judge.
      if (!d.hasButtonQueue) continue;
      e.outcome = 'lost';
      this.emit('vanished', { d, e, t: evidence.t, at: evidence.i });
    }
    d.unsettled = keep;
  }

  // ---- queue -----------------------------------------------------------------------------------

  private keyOf(f: Fields): { key: string; button?: string; req?: string } | undefined {
    if (f.btn !== undefined) return { key: String(f.btn), button: String(f.btn) };
    if (f.req !== undefined) return { key: String(f.req), req: String(f.req) };
    return undefined;
  }

  private onPutOrDrop(d: DeviceState, o: Observation, f: Fields): void {
    const k = this.keyOf(f);
    if (!k) return;
    const depth = Number(f.depth);
    const point = { tDev: o.tDev!, t: o.t, i: o.i, depth };
    const id = f.id === undefined ? undefined : String(f.id);
    let e: EventRecord | undefined;
    if (k.button !== undefined) {
      d.hasButtonQueue = true;
      e = this.callbackEvent(d, k.button, (x) => x.put !== undefined || x.drop !== undefined);
      if (!e) {
        e = this.newEvent(d, k.key);
        e.button = k.button;
        d.current.set(k.button, e);
        if (d.hasEdges && !this.recentGap(d, o.t)) this.emit('unpressed', { d, o, f, e });
      }
    } else {
      const prev = d.byReq.get(k.key);
      e = this.newEvent(d, k.key);
      e.requestId = k.key;
      if (prev && (prev.put || prev.drop)) this.emit('queuedTwice', { d, o, f, e, prev });
      d.byReq.set(k.key, e);
      const r = this.requests.get(k.key);
      if (r && r.device === d.name) r.events.push(e);
    }
    if (id !== undefined) {
      const prev = d.byId.get(id);
      if (prev && prev !== e && (prev.put || prev.drop)) this.emit('queuedTwice', { d, o, f, e, prev });
      e.eventId = id;
      d.byId.set(id, e);
    }
    if (o.kind === K.put) {
      d.puts++;
      e.put = point;
      e.outcome = 'queued';
      d.queue.push(e);
      this.emit('put', { d, o, f, e, depth });
      const take = this.parkedFor(d, e);
      if (take) this.match(d, e, take, o);
    } else {
      e.drop = point;
      e.outcome = 'dropped';
      if (id !== undefined) d.byId.delete(id);
      this.emit('drop', { d, o, f, e, depth });
    }
    if (e.duplicate && e.pressId !== undefined) {
      const p = this.pressById.get(e.pressId)!;
      const first = p.events.find((x) => x !== e && (x.put || x.drop));
      if (first) this.emit('duplicate', { d, o, f, p, e, first });
    }
  }

  /** The parked take a new put matches: the same id, or the oldest parked take of its key. */
  private parkedFor(d: DeviceState, e: EventRecord): TakeRecord | undefined {
    if (d.parked.length === 0) return undefined;
    // By id when both lines carry one; by key when either does not.
    for (;;) {
      const k = d.parked.findIndex((t) => (e.eventId !== undefined && t.eventId !== undefined ? t.eventId === e.eventId : t.key === e.key));
      if (k < 0) return undefined;
      const take = d.parked[k]!;
      const passed = take.parkedAtPuts !== undefined && d.puts - take.parkedAtPuts > 1 ? d.queue.find((x) => x.overtaken && x.key === take.key) : undefined;
      d.parked.splice(k, 1);
      if (!passed) return take;
      // That take was the passed-over event's, late; a later parked take may still be this put's.
      this.takeLate(d, passed, take);
    }
  }

  private onGet(d: DeviceState, o: Observation, f: Fields): void {
    const k = this.keyOf(f);
    if (!k) return;
    const depth = Number(f.depth);
    const id = f.id === undefined ? undefined : String(f.id);
    const take: TakeRecord = { key: k.key, requestId: k.req, eventId: id, seq: d.takeSeq++, get: { tDev: o.tDev!, t: o.t, i: o.i, depth }, orphan: false };
    if (d.lastGet && d.lastGet.depth > 0) d.addService(o.tDev! - d.lastGet.tDev);
    d.lastGet = { tDev: o.tDev!, depth };
    d.inProgress.push(take);
    let e: EventRecord | undefined;
    if (id !== undefined) {
      e = d.byId.get(id);
      if (e?.get) {
        this.emit('takenTwice', { d, e, take, t: o.t });
        take.orphan = true;
        return;
      }
      if (e && !e.put) e = undefined;
      e ??= this.queuedByKey(d, k.key, (x) => x.eventId === undefined);
    } else e = this.queuedByKey(d, k.key);
    if (e) {
      this.match(d, e, take, o);
      this.depthWitness(d, o, f);
    } else {
      if (id === undefined && d.queue.some((x) => x.overtaken && x.key === k.key)) take.parkedAtPuts = d.puts;
      d.parked.push(take);
    }
  }

  /**
   * The queued event a take of `key` (with no id to go by) takes, chosen as the explanation with
   * the fewest faults:
   * - the head of the queue (the oldest event it has not gone past) when it is of that key: FIFO;
   * - else the oldest event of that key the queue went past: a late take, out of order;
   * - but when the queue holds nothing else, the take is parked (none is returned) like any take
   *   without its put: its q_put may be on its way, a later press of the same button, which makes
   *   the passed-over event lost rather than late. Unmatched when the tolerance closes, it is
   *   matched to the passed-over event then ({@link takeLate});
   * - else the oldest of that key further back: it jumped the head, out of order.
   */
  private queuedByKey(d: DeviceState, key: string, also: (e: EventRecord) => boolean = () => true): EventRecord | undefined {
    const head = d.queue.find((x) => !x.overtaken);
    if (head && head.key === key && also(head)) return head;
    const passed = d.queue.find((x) => x.overtaken && x.key === key && also(x));
    if (passed) return head ? passed : undefined;
    return d.queue.find((x) => x.key === key && also(x));
  }

  /**
   * A put and a take are one event: check FIFO on put order against take order, fill the record.
   *
   * Taking an event while older ones are still queued is not yet a FIFO violation: firmware that
   * discards queued events (a "flush stale commands") takes the next one in order, and the ones it
   * skipped are lost, not late. So the older events are marked overtaken, and the verdict waits:
   * one taken afterwards breaks FIFO (reported against the event that jumped it); one never taken
   * is lost from the queue (exactly-once, at its drain deadline).
   */
  private match(d: DeviceState, e: EventRecord, take: TakeRecord, o: Observation): void {
    const idx = d.queue.indexOf(e);
    if (idx >= 0) d.queue.splice(idx, 1);
    for (let j = 0; j < idx; j++) d.queue[j]!.overtaken ??= { by: e, t: o.t, i: o.i };
    const later = d.lastMatched && d.lastMatched.seq > take.seq ? d.lastMatched.event : undefined;
    if (later) this.emit('outOfOrder', { d, e, ahead: [later], t: o.t, at: o.i });
    else if (e.overtaken) this.emit('outOfOrder', { d, e: e.overtaken.by, ahead: [e], t: o.t, at: o.i });
    if (!d.lastMatched || take.seq > d.lastMatched.seq) d.lastMatched = take;
    take.event = e;
    e.get = take.get;
    e.outcome = 'taken';
    if (take.done) this.finish(d, e, take.done, o);
  }

  private onDone(d: DeviceState, o: Observation, f: Fields): void {
    const k = this.keyOf(f);
    if (!k) return;
    const id = f.id === undefined ? undefined : String(f.id);
    const idx = d.inProgress.findIndex((t) => (id !== undefined && t.eventId !== undefined ? t.eventId === id : t.key === k.key));
    const point = { tDev: o.tDev!, t: o.t, i: o.i };
    if (idx >= 0) {
      const take = d.inProgress[idx]!;
      d.inProgress.splice(idx, 1);
      take.done = point;
      if (take.event) this.finish(d, take.event, point, o);
      return;
    }
    if (k.req !== undefined && !d.byReq.has(k.key)) {
      // Handled in the request itself, without the queue (nothing to match, nothing lost).
      const e = this.newEvent(d, k.key);
      e.requestId = k.key;
      d.byReq.set(k.key, e);
      const r = this.requests.get(k.key);
      if (r && r.device === d.name) r.events.push(e);
      e.done = point;
      e.outcome = 'processed';
      return;
    }
    // A device that prints no q_get shows no takes to match its done lines against.
    if (d.takeSeq > 0 && !this.recentGap(d, o.t)) this.emit('orphanDone', { d, o, f, key: k.key, req: k.req });
  }

  private finish(d: DeviceState, e: EventRecord, done: NonNullable<EventRecord['done']>, o: { t: bigint; i: number }): void {
    e.done = done;
    e.outcome = 'processed';
    if (e.eventId !== undefined) {
      // Kept a while, so a second take of a finished id is named as such; then forgotten.
      d.doneIds.push(e.eventId);
      if (d.doneIds.length > DONE_IDS_KEPT) {
        const old = d.doneIds.shift()!;
        if (d.byId.get(old)?.done) d.byId.delete(old);
      }
    }
    if (e.put) this.emit('processed', { d, e, t: o.t, at: o.i });
  }

  /** A parked take matched, once its tolerance closed, to an event the queue had gone past: taken out of order. */
  private takeLate(d: DeviceState, e: EventRecord, take: TakeRecord): void {
    take.orphan = false;
    d.queue.splice(d.queue.indexOf(e), 1);
    take.event = e;
    e.get = take.get;
    e.outcome = 'taken';
    this.emit('outOfOrder', { d, e: e.overtaken!.by, ahead: [e], t: take.get.t, at: take.get.i });
    if (take.done) this.finish(d, e, take.done, take.done);
  }

  /** Takes no put matched within the tolerance: taken twice, taken late (out of order), or queued without a q_put line. */
  private checkParked(d: DeviceState, at: bigint): void {
    while (d.parked.length > 0 && d.parked[0]!.get.t + this.tolerance < at) {
      const take = d.parked.shift()!;
      take.orphan = true;
      if (this.recentGap(d, take.get.t)) continue;
      const e = take.eventId !== undefined ? d.byId.get(take.eventId) : undefined;
      // Its id was queued, and taken by an earlier take: a second take of one event.
      if (e?.get) {
        this.emit('takenTwice', { d, e, take, t: take.get.t });
        continue;
      }
      const passed = d.queue.find((x) => x.overtaken && x.key === take.key && (take.eventId === undefined || x.eventId === undefined));
      if (passed) this.takeLate(d, passed, take);
      else this.emit('orphanTake', { d, take, t: take.get.t });
    }
  }

  // ---- HTTP requests ---------------------------------------------------------------------------

  private onRequest(o: Observation, f: Fields): void {
    const r: RequestRecord = { requestId: String(f.request_id), device: String(f.device), method: String(f.method ?? ''), path: String(f.path ?? ''), request: { t: o.t, i: o.i }, events: [] };
    this.requests.set(r.requestId, r);
    // A device line may have come before the request record.
    const e = this.devices.get(r.device)?.byReq.get(r.requestId);
    if (e) r.events.push(e);
    this.emit('request', { r, o });
  }

  private onResponse(o: Observation, f: Fields): void {
    const r = this.requests.get(String(f.request_id));
    if (!r) return;
    if (o.kind === H.httpError) r.error = { t: o.t, i: o.i, error: String(f.error ?? '') };
    else r.response = { t: o.t, i: o.i, status: Number(f.status), ms: Number(f.ms) };
    this.emit('response', { r, o });
  }
}
