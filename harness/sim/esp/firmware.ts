// The ESP32 panel-link firmware as it runs inside its worker thread. The worker's event loop is
// the CPU core: HTTP callbacks are the async_tcp task, the 10 ms timer chain is Arduino's loop
// task, and the moments the loop blocks with nothing to do are the idle task, which feeds the
// task watchdog. Like FreeRTOS tasks on one core, a callback that does not return holds the
// core; awaiting a timer is "blocked on I/O" and lets the other tasks run.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceClock, formatHil } from '../device-clock.ts';
import { mulberry32 } from '../prng.ts';
import type { EspFault } from './faults.ts';
import { RingBuffer } from './ring-buffer.ts';
import {
  BUSY_AT_FEED,
  BUSY_TOTAL,
  FED_AT,
  LONGEST_SECTION,
  SECTION_START,
  SharedCore,
  TASK_ASYNC_TCP,
  TASK_IDLE,
  TASK_LOOP,
  type FirmwareBootData,
  type FirmwareMessage,
  type HostMessage,
} from './shared.ts';

export const FW_VERSION = '1.4';
/** Capacity of the database-log circular buffer. */
export const DB_RING_CAP = 10;
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
  private readonly shared: SharedCore;
  private readonly uartRx: string[] = [];
  // The sync-DB fault blocks the whole thread, like a task that never yields its core.
  private readonly blockCell = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private nextReqId = 1;
  private processed = 0;
  private dropped = 0;
  private piState: Map<string, string> | undefined;
  private lastHbNs = 0n;

  constructor(
    private readonly cfg: FirmwareBootData,
    private readonly emit: (m: FirmwareMessage) => void,
  ) {
    this.clock = new DeviceClock({ bootHostNs: cfg.bootHostNs, offsetUs: cfg.offsetUs, driftPpm: cfg.driftPpm });
    this.rng = mulberry32(cfg.seed);
    this.fault = cfg.fault;
    this.shared = new SharedCore(cfg.shared);
    this.server = http.createServer((req, res) => this.onRequest(req, res));
  }

  /** setup(): banner, WiFi, HTTP server; then the loop task and the idle task start. */
  async start(): Promise<void> {
    const ns = process.hrtime.bigint();
    this.truth('boot', ns, { fw: 'esp', ver: FW_VERSION, reset: this.cfg.resetReason });
    this.log(`ESP32 panel-link v${FW_VERSION}`);
    this.hil('boot', { fw: 'esp', ver: FW_VERSION, reset: this.cfg.resetReason }, ns);
    this.startIdleTask();
    this.log('Connecting to WiFi...');
    this.log(`WiFi connected, IP address: ${this.cfg.host}`);
    const port = await this.listen();
    this.log(`HTTP server started on port ${port}`);
    this.lastHbNs = process.hrtime.bigint();
    this.emit({ t: 'ready', port });
    void this.loopTask();
  }

  /**
   * The idle task: it feeds the task watchdog when the core had nothing to do. A plain timer
   * would not do: Node runs timers between two I/O callbacks even when the next request is
   * already waiting, which FreeRTOS would not (async_tcp outranks IDLE). libuv's idle-time metric
   * grows only while the loop blocks in epoll after finding nothing ready, i.e. exactly when every
   * task is waiting for I/O.
   */
  private startIdleTask(): void {
    const clock = this.shared.clock;
    let lastIdleMs = performance.eventLoopUtilization().idle;
    setInterval(() => {
      const idleMs = performance.eventLoopUtilization().idle;
      if (idleMs > lastIdleMs) {
        const now = process.hrtime.bigint();
        Atomics.store(clock, BUSY_AT_FEED, this.shared.busyNs(now));
        Atomics.store(clock, LONGEST_SECTION, 0n);
        Atomics.store(clock, FED_AT, now);
      }
      lastIdleMs = idleMs;
    }, this.cfg.feedPeriodMs);
  }

  onHostMessage(m: HostMessage): void {
    if (m.t !== 'uart') return;
    if (this.uartRx.length >= UART_RX_LINES) {
      this.truth('uart_overflow', process.hrtime.bigint(), { line: m.line });
      return;
    }
    this.uartRx.push(m.line);
  }

  // ---- output -------------------------------------------------------------------------------

  private log(text: string): void {
    this.emit({ t: 'out', text: text + this.cfg.eol });
  }

  private hil(kind: string, fields: Record<string, string | number>, ns: bigint = process.hrtime.bigint()): void {
    const seq = ++this.seq;
    this.emit({ t: 'out', text: formatHil(seq, this.clock.nowUs(ns), kind, fields) + this.cfg.eol, seq });
  }

  private truth(kind: string, t: bigint, fields: Record<string, unknown> = {}): void {
    if (this.cfg.wantTruth) this.emit({ t: 'truth', rec: { ...fields, t, src: 'esp', kind } });
  }

  /** Run `fn` as `task` holding the core: its time is accounted and a panic can name it. */
  private onCore<T>(task: number, fn: () => T): T {
    const { ctl, clock } = this.shared;
    const t0 = process.hrtime.bigint();
    Atomics.store(clock, SECTION_START, t0);
    Atomics.store(ctl, 1, task);
    try {
      return fn();
    } finally {
      Atomics.store(ctl, 1, TASK_IDLE);
      const dt = process.hrtime.bigint() - t0;
      Atomics.store(clock, SECTION_START, 0n);
      Atomics.add(clock, BUSY_TOTAL, dt);
      if (dt > Atomics.load(clock, LONGEST_SECTION)) {
        Atomics.store(clock, LONGEST_SECTION, dt);
        Atomics.store(ctl, 2, task);
      }
    }
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
    const ns = process.hrtime.bigint();
    // ESPAsyncWebServer closes every connection after the response.
    res.setHeader('Connection', 'close');
    const header = req.headers['x-request-id'];
    const given = typeof header === 'string' && REQ_ID.test(header) ? header : undefined;
    const id: ReqId = given ?? this.nextReqId++;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.truth('http_rx', ns, { req: id, method: req.method, path });
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
      reply(200, this.onCore(TASK_ASYNC_TCP, () => this.stateJson()));
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
      this.onCore(TASK_ASYNC_TCP, () => {
        let what: string;
        try {
          what = this.parse(r.route, req.headers['content-type'] ?? '', Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          if (!(e instanceof BadRequest)) throw e;
          reply(e.status, { error: e.message, req: id });
          return;
        }
        if (this.fault === 'esp-sync-db') this.writeDbNow(id, what, reply);
        else this.enqueue(id, what, reply);
      });
    });
  }

  private stateJson(): object {
    return {
      pi: this.piState ? Object.fromEntries(this.piState) : null,
      depth: this.ring.depth,
      cap: DB_RING_CAP,
      processed: this.processed,
      dropped: this.dropped,
      uptime_us: this.clock.nowUs() - this.cfg.offsetUs,
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
    const ns = process.hrtime.bigint();
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
  private writeDbNow(id: ReqId, what: string, reply: (status: number, body: unknown) => void): void {
    const t0 = process.hrtime.bigint();
    this.truth('db_write_start', t0, { req: id, what });
    Atomics.wait(this.blockCell, 0, 0, this.dbWriteMs());
    const t1 = process.hrtime.bigint();
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

  private async loopTask(): Promise<void> {
    for (;;) {
      const ev = this.onCore(TASK_LOOP, () => {
        this.readUart();
        return this.ring.shift();
      });
      if (ev) {
        const t0 = process.hrtime.bigint();
        const getUs = this.clock.nowUs(t0);
        this.hil('q_get', { req: ev.req, depth: this.ring.depth, wait_us: getUs - ev.putUs }, t0);
        this.truth('q_get', t0, { req: ev.req, depth: this.ring.depth });
        this.truth('db_write_start', t0, { req: ev.req, what: ev.what });
        // Blocked on the network, not on the CPU: handlers keep running meanwhile.
        await sleep(this.dbWriteMs());
        const t1 = process.hrtime.bigint();
        this.truth('db_write_end', t1, { req: ev.req });
        this.processed++;
        this.hil('done', { req: ev.req, dur_us: this.clock.nowUs(t1) - getUs }, t1);
        this.log(`DB: logged message #${this.processed}`);
      }
      const now = process.hrtime.bigint();
      if (now - this.lastHbNs >= HB_PERIOD_NS) {
        this.lastHbNs = now;
        this.hil('hb', { thread: 'loop', depth: this.ring.depth, processed: this.processed }, now);
      }
      await sleep(LOOP_DELAY_MS);
    }
  }

  private readUart(): void {
    for (let line = this.uartRx.shift(); line !== undefined; line = this.uartRx.shift()) this.onUartLine(line);
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
    const ns = process.hrtime.bigint();
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
