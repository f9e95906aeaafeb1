// The ESP32 panel-link firmware as it runs inside its worker thread. The HTTP server is real
// (it runs on the worker's event loop); the CPU core is modelled. Every request that reaches a
// handler, every pass of Arduino's loop task and every UART line is an event at its model time
// (a request's and a UART line's model time is the host time it arrived). A task holds the
// modelled core for what its model says it costs (seeded: microseconds for a healthy handler,
// 20–40 ms for the esp-sync-db bug's database write); while the core is busy other work waits its
// turn, and only a gap in the core's work lets the idle task feed the task watchdog. The model
// runs paced to the wall clock: a reply leaves when the model reaches the end of its handler.
// Host load therefore delays replies and lines, never what the lines say.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ESP_QUEUE_CAPACITY } from '../../devices/esp.ts';
import { DeviceClock, formatHil } from '../device-clock.ts';
import { mulberry32 } from '../prng.ts';
import type { EspFault } from './faults.ts';
import { RingBuffer } from './ring-buffer.ts';
import { TASK_ASYNC_TCP, TASK_LOOP, TASK_NAMES, type FirmwareBootData, type FirmwareMessage, type HostMessage } from './shared.ts';

export const FW_VERSION = '1.4';
/** Capacity of the database-log circular buffer. */
export const DB_RING_CAP = ESP_QUEUE_CAPACITY;
const LOOP_DELAY_MS = 10;
const HB_PERIOD_NS = 250_000_000n;
const DB_WRITE_MIN_MS = 20;
const DB_WRITE_MAX_MS = 40;
/** ESPAsyncWebServer keeps small request buffers; larger bodies are refused. */
const BODY_LIMIT = 1024;
const TEXT_MAX = 200;
/** STATE lines the UART RX buffer holds before it overflows (the loop reads it every pass). */
const UART_RX_LINES = 16;
const REQ_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** Modelled CPU cost of a healthy handler (parse, validate, push, log), µs. */
const HANDLER_US: [number, number] = [40, 120];
/** Modelled CPU cost of one loop() pass (UART read, ring check), µs. */
const LOOP_PASS_US: [number, number] = [10, 30];
/** The pacer looks at the model at least this often, ms. */
const PACE_MAX_MS = 20;

const ns = (ms: number): bigint => BigInt(Math.round(ms * 1e6));
const hostNow = (): bigint => process.hrtime.bigint();

interface ModelEvent {
  t: bigint;
  seq: number;
  run: () => void;
}

type ReqId = string | number;

interface DbEvent {
  req: ReqId;
  what: string;
  putUs: number;
}

/** A client error: the handler answers `status` with `message`. */
class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Route = 'page' | 'state' | 'form' | 'message' | 'color';
const ROUTES: Record<string, { method: 'GET' | 'POST'; route: Route }> = {
  '/': { method: 'GET', route: 'page' },
  '/api/state': { method: 'GET', route: 'state' },
  '/message': { method: 'POST', route: 'form' },
  '/api/message': { method: 'POST', route: 'message' },
  '/api/color': { method: 'POST', route: 'color' },
};

const PAGE = `<!doctype html><html><head><title>panel-link</title></head><body>
<h1>ESP32 panel-link v${FW_VERSION}</h1>
<form method="post" action="/message"><input name="text" maxlength="${TEXT_MAX}"><button>Send</button></form>
</body></html>`;

/** One boot of the ESP firmware. Construct in the worker, then {@link start}. */
export class PanelLinkFirmware {
  private readonly clock: DeviceClock;
  private readonly rng: () => number;
  private readonly ring = new RingBuffer<DbEvent>(DB_RING_CAP);
  private readonly fault: EspFault | undefined;
  private readonly server: http.Server;
  private readonly uartRx: Array<{ line: string; t: bigint }> = [];
  private seq = 0;
  private nextReqId = 1;
  private processed = 0;
  private dropped = 0;
  private piState: Map<string, string> | undefined;
  private lastHbNs = 0n;
  // ---- the modelled core ----
  private now: bigint;
  private readonly events: ModelEvent[] = [];
  private eventSeq = 0;
  private pacer: NodeJS.Timeout | undefined;
  /** Model time the core finishes the work it has been given. */
  private coreFreeAt: bigint;
  /** Start of the core's current busy stretch (the idle task last ran just before it). */
  private busySince: bigint;
  private coreTask = TASK_LOOP;
  private readonly wdtNs: bigint;
  private wdtAt: bigint | undefined;
  private halted = false;

  constructor(
    private readonly cfg: FirmwareBootData,
    private readonly emit: (m: FirmwareMessage) => void,
  ) {
    this.clock = new DeviceClock({ bootHostNs: cfg.bootHostNs, offsetUs: cfg.offsetUs, driftPpm: cfg.driftPpm });
    this.rng = mulberry32(cfg.seed);
    this.fault = cfg.fault;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.now = cfg.bootHostNs;
    this.coreFreeAt = cfg.bootHostNs;
    this.busySince = cfg.bootHostNs;
    this.wdtNs = ns(cfg.wdtTimeoutMs);
  }

  /** setup(): banner, WiFi, HTTP server; then the loop task and the idle task start. */
  async start(): Promise<void> {
    const t0 = this.cfg.bootHostNs;
    this.truth('boot', t0, { fw: 'esp', ver: FW_VERSION, reset: this.cfg.resetReason, clock_offset_us: this.cfg.offsetUs, clock_drift_ppm: this.cfg.driftPpm });
    this.log(`ESP32 panel-link v${FW_VERSION}`);
    this.hil('boot', { fw: 'esp', ver: FW_VERSION, reset: this.cfg.resetReason }, t0);
    this.log('Connecting to WiFi...');
    this.log(`WiFi connected, IP address: ${this.cfg.host}`);
    const port = await this.listen();
    this.log(`HTTP server started on port ${port}`);
    // setup() is over when the server listens; loop() and the idle task start then.
    const up = hostNow();
    this.now = up;
    this.coreFreeAt = up;
    this.busySince = up;
    this.lastHbNs = up;
    this.emit({ t: 'ready', port });
    this.at(up, () => this.loopPass());
    this.pace();
  }

  // ---- the model: events in model time, paced to the wall clock ------------------------------

  private at(t: bigint, run: () => void): void {
    if (this.halted) return;
    const e = { t: t < this.now ? this.now : t, seq: this.eventSeq++, run };
    let i = this.events.length;
    while (i > 0 && (this.events[i - 1]!.t > e.t || (this.events[i - 1]!.t === e.t && this.events[i - 1]!.seq > e.seq))) i--;
    this.events.splice(i, 0, e);
  }

  /** Run every event due by the wall clock, then sleep until the next one. */
  private pace(): void {
    this.pacer = undefined;
    const wall = hostNow();
    for (let e = this.events[0]; e && e.t <= wall && !this.halted; e = this.events[0]) {
      this.events.shift();
      this.now = e.t;
      e.run();
    }
    if (this.halted) return;
    if (wall > this.now) this.now = wall;
    const next = this.events[0];
    const delay = next ? Math.min(PACE_MAX_MS, Math.max(0, Math.ceil(Number(next.t - hostNow()) / 1e6))) : PACE_MAX_MS;
    this.pacer = setTimeout(() => this.pace(), delay);
  }

  /** An input arrived (a request, a UART line): let the model take it now. */
  private poke(): void {
    if (this.pacer) clearTimeout(this.pacer);
    this.pacer = setTimeout(() => this.pace(), 0);
  }

  private uniformNs(loUs: number, hiUs: number): bigint {
    return BigInt(Math.round((loUs + (hiUs - loUs) * this.rng()) * 1000));
  }

  /**
   * Give the modelled core `costNs` of work for `task`, as soon as it is free from model time
   * `ready` on. Returns when that work starts and ends, or undefined when the task watchdog fires
   * first (the work never finishes: the chip resets). A gap before the work is idle time: the
   * idle task runs and feeds the watchdog.
   */
  private onCore(task: number, ready: bigint, costNs: bigint): { start: bigint; end: bigint } | undefined {
    const start = ready > this.coreFreeAt ? ready : this.coreFreeAt;
    if (start > this.coreFreeAt) this.busySince = start;
    const end = start + costNs;
    this.coreFreeAt = end;
    if (end - this.busySince < this.wdtNs) return { start, end };
    // IDLE has not run for the watchdog's timeout: it fires in the middle of this stretch.
    if (this.wdtAt === undefined) {
      const at = this.busySince + this.wdtNs;
      this.wdtAt = at;
      this.at(at, () => this.watchdog(at, at > start ? task : this.coreTask));
    }
    this.coreTask = task;
    return end <= this.wdtAt ? { start, end } : undefined;
  }

  /** The task watchdog fired at model time `at`: stop the CPU and let the chip panic. */
  private watchdog(at: bigint, task: number): void {
    if (this.halted) return;
    this.halted = true;
    this.events.length = 0;
    if (this.pacer) clearTimeout(this.pacer);
    this.emit({ t: 'wdt', at, running: TASK_NAMES[task] ?? 'unknown', starvedNs: at - this.busySince, lastSeq: this.seq });
  }

  onHostMessage(m: HostMessage): void {
    if (m.t !== 'uart' || this.halted) return;
    const t = hostNow();
    this.at(t, () => {
      if (this.uartRx.length >= UART_RX_LINES) {
        this.truth('uart_overflow', t, { line: m.line });
        return;
      }
      this.uartRx.push({ line: m.line, t });
    });
    this.poke();
  }

  // ---- output -------------------------------------------------------------------------------

  private log(text: string): void {
    this.emit({ t: 'out', text: text + this.cfg.eol });
  }

  private hil(kind: string, fields: Record<string, string | number>, t: bigint = this.now): void {
    const seq = ++this.seq;
    this.emit({ t: 'out', text: formatHil(seq, this.clock.nowUs(t), kind, fields) + this.cfg.eol, seq });
  }

  private truth(kind: string, t: bigint, fields: Record<string, unknown> = {}): void {
    if (this.cfg.wantTruth) this.emit({ t: 'truth', rec: { ...fields, t, src: 'esp', kind } });
  }

  // ---- HTTP: the async_tcp task ---------------------------------------------------------------

  private async listen(): Promise<number> {
    const want = this.cfg.listenPort;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.listenOnce(want);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || want === 0) throw e;
        // The previous boot's socket may still be closing; after that, someone else has it.
        if (attempt < 10) {
          await sleep(50);
          continue;
        }
        const got = await this.listenOnce(0);
        this.log(`W: port ${want} is busy, HTTP server moved to port ${got}`);
        return got;
      }
    }
  }

  private listenOnce(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.cfg.host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const arrived = hostNow();
    // ESPAsyncWebServer closes every connection after the response.
    res.setHeader('Connection', 'close');
    const header = req.headers['x-request-id'];
    const given = typeof header === 'string' && REQ_ID.test(header) ? header : undefined;
    const id: ReqId = given ?? this.nextReqId++;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.truth('http_rx', arrived, { req: id, method: req.method, path });
    const reply = (status: number, body: unknown, type = 'application/json'): void => {
      res.writeHead(status, { 'Content-Type': type, 'X-Request-Id': String(id) });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (header !== undefined && given === undefined) {
      req.resume();
      reply(400, { error: `X-Request-Id must match ${String(REQ_ID)}, got ${JSON.stringify(header)}`, req: id });
      return;
    }
    const r = ROUTES[path];
    if (!r) {
      req.resume();
      reply(404, { error: `no route for ${path}; try ${Object.keys(ROUTES).join(', ')}`, req: id });
      return;
    }
    if (req.method !== r.method) {
      req.resume();
      res.setHeader('Allow', r.method);
      reply(405, { error: `${path} takes ${r.method}, got ${req.method}`, req: id });
      return;
    }
    if (r.route === 'page') {
      req.resume();
      reply(200, PAGE, 'text/html');
      return;
    }
    if (r.route === 'state') {
      req.resume();
      this.handle(hostNow(), this.uniformNs(...HANDLER_US), () => reply(200, this.stateJson()));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT && !refused) {
        refused = true;
        reply(413, { error: `body is larger than ${BODY_LIMIT} bytes`, req: id });
      }
      if (!refused) chunks.push(c);
    });
    req.on('end', () => {
      if (refused) return;
      // The handler proper: with ESPAsyncWebServer it runs once the body is in.
      const t = hostNow();
      let what: string;
      try {
        what = this.parse(r.route, req.headers['content-type'] ?? '', Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        if (!(e instanceof BadRequest)) throw e;
        this.handle(t, this.uniformNs(...HANDLER_US), () => reply(e.status, { error: e.message, req: id }));
        return;
      }
      if (this.fault === 'esp-sync-db') {
        // The bug: the database write happens here, holding the async_tcp task's core.
        const cost = ns(this.dbWriteMs());
        this.handle(t, cost, (start) => this.writeDbNow(id, what, start, reply));
      } else {
        this.handle(t, this.uniformNs(...HANDLER_US), () => this.enqueue(id, what, reply));
      }
    });
  }

  /**
   * A handler that became ready at `arrived` holds the async_tcp task's core for `costNs` (after
   * whatever the core is busy with); `done` runs at its end, in model time. No end if the task
   * watchdog resets the chip first.
   */
  private handle(arrived: bigint, costNs: bigint, done: (start: bigint) => void): void {
    if (this.halted) return;
    this.at(arrived, () => {
      const c = this.onCore(TASK_ASYNC_TCP, arrived, costNs);
      if (c) this.at(c.end, () => done(c.start));
    });
    this.poke();
  }

  private stateJson(): object {
    return {
      pi: this.piState ? Object.fromEntries(this.piState) : null,
      depth: this.ring.depth,
      cap: DB_RING_CAP,
      processed: this.processed,
      dropped: this.dropped,
      uptime_us: this.clock.nowUs(this.now) - this.cfg.offsetUs,
    };
  }

  /** Validate a body; returns the text the DB log will hold. */
  private parse(route: Route, contentType: string, body: string): string {
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (route === 'form') {
      if (type !== 'application/x-www-form-urlencoded') {
        throw new BadRequest(`expected Content-Type application/x-www-form-urlencoded, got ${JSON.stringify(contentType)}`);
      }
      return checkText(new URLSearchParams(body).get('text') ?? undefined);
    }
    if (type !== 'application/json') throw new BadRequest(`expected Content-Type application/json, got ${JSON.stringify(contentType)}`);
    let o: unknown;
    try {
      o = JSON.parse(body);
    } catch (e) {
      throw new BadRequest(`body is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new BadRequest('body must be a JSON object');
    const obj = o as Record<string, unknown>;
    if (route === 'message') return checkText(obj.text);
    return 'color ' + checkColor(obj);
  }

  /** The fixed design: queue and return. */
  private enqueue(id: ReqId, what: string, reply: (status: number, body: unknown) => void): void {
    const ns = this.now;
    const fields = { req: id, depth: 0, cap: DB_RING_CAP };
    if (this.ring.push({ req: id, what, putUs: this.clock.nowUs(ns) })) {
      fields.depth = this.ring.depth;
      this.hil('q_put', fields, ns);
      this.truth('q_put', ns, fields);
      reply(202, { req: id, depth: fields.depth, cap: DB_RING_CAP });
      return;
    }
    this.dropped++;
    fields.depth = this.ring.depth;
    this.log('⚠ DB log buffer full, dropping event');
    this.hil('q_drop', fields, ns);
    this.truth('q_drop', ns, fields);
    reply(503, { error: 'DB log buffer full', req: id, depth: fields.depth, cap: DB_RING_CAP });
  }

  /** The `esp-sync-db` bug: the database write happens here, holding the async_tcp task. */
  private writeDbNow(id: ReqId, what: string, t0: bigint, reply: (status: number, body: unknown) => void): void {
    this.truth('db_write_start', t0, { req: id, what });
    const t1 = this.now;
    this.truth('db_write_end', t1, { req: id });
    this.processed++;
    this.hil('done', { req: id, dur_us: this.clock.nowUs(t1) - this.clock.nowUs(t0) }, t1);
    this.log(`DB: logged message #${this.processed}`);
    reply(200, { req: id });
  }

  private dbWriteMs(): number {
    return DB_WRITE_MIN_MS + Math.floor(this.rng() * (DB_WRITE_MAX_MS - DB_WRITE_MIN_MS + 1));
  }

  // ---- loop(): drains the buffer, reads the Pi's UART, heartbeats ---------------------------------

  /**
   * One pass of loop(): read the UART, take one event off the buffer and write it to the
   * database (a network wait: the core is free meanwhile), heartbeat, then delay(10).
   */
  private loopPass(): void {
    const c = this.onCore(TASK_LOOP, this.now, this.uniformNs(...LOOP_PASS_US));
    if (!c) return;
    this.at(c.end, () => {
      this.readUart();
      const ev = this.ring.shift();
      if (!ev) {
        this.loopTail();
        return;
      }
      const t0 = this.now;
      const getUs = this.clock.nowUs(t0);
      this.hil('q_get', { req: ev.req, depth: this.ring.depth, wait_us: getUs - ev.putUs }, t0);
      this.truth('q_get', t0, { req: ev.req, depth: this.ring.depth });
      this.truth('db_write_start', t0, { req: ev.req, what: ev.what });
      this.at(t0 + ns(this.dbWriteMs()), () => {
        const t1 = this.now;
        this.truth('db_write_end', t1, { req: ev.req });
        this.processed++;
        this.hil('done', { req: ev.req, dur_us: this.clock.nowUs(t1) - getUs }, t1);
        this.log(`DB: logged message #${this.processed}`);
        this.loopTail();
      });
    });
  }

  private loopTail(): void {
    if (this.now - this.lastHbNs >= HB_PERIOD_NS) {
      this.lastHbNs = this.now;
      this.hil('hb', { thread: 'loop', depth: this.ring.depth, processed: this.processed });
    }
    this.at(this.now + ns(LOOP_DELAY_MS), () => this.loopPass());
  }

  private readUart(): void {
    for (let rx = this.uartRx.shift(); rx !== undefined; rx = this.uartRx.shift()) this.onUartLine(rx.line);
  }

  /** `STATE k=v k=v …` from the Pi. Other lines and tokens without `=` are ignored. */
  private onUartLine(line: string): void {
    const m = /^STATE(?:\s+(.*))?$/.exec(line.trim());
    if (!m) return;
    const next = new Map<string, string>();
    for (const tok of (m[1] ?? '').split(/\s+/)) {
      const i = tok.indexOf('=');
      if (i > 0) next.set(tok.slice(0, i), tok.slice(i + 1));
    }
    const prev = this.piState;
    if (prev && prev.size === next.size && [...next].every(([k, v]) => prev.get(k) === v)) return;
    this.piState = next;
    const ns = this.now;
    const pairs = [...next].map(([k, v]) => `${k}=${v}`).join(' ');
    this.log(`Pi state: ${pairs}`);
    const fields: Record<string, string> = { src: 'pi' };
    // `src` is ours on this line; a Pi key of that name would make it ambiguous.
    for (const [k, v] of next) if (k !== 'src') fields[k] = v;
    this.hil('state', fields, ns);
    this.truth('state_rx', ns, { state: Object.fromEntries(next) });
  }
}

function checkText(v: unknown): string {
  if (v === undefined) throw new BadRequest('"text" is missing');
  if (typeof v !== 'string') throw new BadRequest(`"text" must be a string, got ${typeof v}`);
  if (v.trim() === '') throw new BadRequest('"text" must not be empty');
  if (v.length > TEXT_MAX) throw new BadRequest(`"text" must be at most ${TEXT_MAX} characters, got ${v.length}`);
  return v;
}

/** `{hex: "#RRGGBB"}` or `{r, g, b}` (integers 0–255) → `#RRGGBB`. */
function checkColor(o: Record<string, unknown>): string {
  if (o.hex !== undefined) {
    if (typeof o.hex !== 'string' || !/^#?[0-9a-fA-F]{6}$/.test(o.hex)) {
      throw new BadRequest(`"hex" must be "#RRGGBB", got ${JSON.stringify(o.hex)}`);
    }
    return '#' + o.hex.replace('#', '').toUpperCase();
  }
  if (o.r === undefined && o.g === undefined && o.b === undefined) throw new BadRequest('expected {"r","g","b"} or {"hex"}');
  let hex = '#';
  for (const k of ['r', 'g', 'b'] as const) {
    const c = o[k];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 255) {
      throw new BadRequest(`"${k}" must be an integer 0–255, got ${c === undefined ? 'nothing' : JSON.stringify(c)}`);
    }
    hex += c.toString(16).padStart(2, '0').toUpperCase();
  }
  return hex;
}
