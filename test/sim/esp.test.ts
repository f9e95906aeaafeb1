import assert from 'node:assert/strict';
import http from 'node:http';
import { GroundTruthLog, type TruthRecord } from '../../harness/sim/ground-truth.ts';
import { EspFirmware, type EspFirmwareOptions } from '../../harness/sim/esp/index.ts';

// Real worker threads, real HTTP on loopback. The host may be a loaded 2-core box: waits are
// deadlines on console output, and time assertions are bounds with wide margins.

interface Hil {
  seq: number;
  tUs: number;
  kind: string;
  f: Record<string, string>;
  line: number;
}

/** Enough of docs/telemetry.md for these tests (the firmware never quotes values here). */
function parseHil(line: string, index: number): Hil | undefined {
  const m = /^HIL (\d+) (\d+) (\S+)(.*)$/.exec(line);
  if (!m) return undefined;
  const f: Record<string, string> = {};
  for (const tok of (m[4] ?? '').trim().split(/\s+/)) {
    const i = tok.indexOf('=');
    if (i > 0) f[tok.slice(0, i)] = tok.slice(i + 1);
  }
  return { seq: Number(m[1]), tUs: Number(m[2]), kind: m[3] ?? '', f, line: index };
}

/** The ESP's serial console as the harness would see it, with deadline waits. */
class Console {
  readonly lines: string[] = [];
  bytes = 0;
  private partial = '';
  private waiters: Array<() => void> = [];

  readonly sink = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.lines.push(p.replace(/\r$/, ''));
    for (const w of this.waiters.slice()) w();
  };

  hil(from = 0): Hil[] {
    const out: Hil[] = [];
    for (let i = from; i < this.lines.length; i++) {
      const h = parseHil(this.lines[i] ?? '', i);
      if (h) out.push(h);
    }
    return out;
  }

  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  /** Index of the first line at or after `from` matching `test`, waiting up to `ms`. */
  waitFor(test: RegExp | ((l: string) => boolean), what: string, ms = 5000, from = 0): Promise<number> {
    const match = typeof test === 'function' ? test : (l: string) => test.test(l);
    return new Promise((resolve, reject) => {
      let checked = from;
      const check = (): boolean => {
        for (; checked < this.lines.length; checked++) {
          if (match(this.lines[checked] ?? '')) {
            done();
            resolve(checked);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        const tail = this.lines.slice(-6).join(' | ');
        reject(new Error(`expected ${what} within ${ms} ms; saw ${this.lines.length} lines, last: ${tail}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const waiter = (): void => void check();
      if (!check()) this.waiters.push(waiter);
    });
  }

  /** Per boot: seq +1 from 1 on every HIL line, device time never going back. */
  assertTelemetryInvariants(): void {
    let prev: Hil | undefined;
    for (const h of this.hil()) {
      if (h.kind === 'boot') {
        assert.equal(h.seq, 1, `boot line must restart seq at 1: ${this.lines[h.line]}`);
      } else if (prev) {
        assert.equal(h.seq, prev.seq + 1, `HIL seq gap: "${this.lines[prev.line]}" then "${this.lines[h.line]}"`);
        assert.ok(h.tUs >= prev.tUs, `device time went back: "${this.lines[prev.line]}" then "${this.lines[h.line]}"`);
      }
      prev = h;
    }
  }
}

interface Reply {
  status: number;
  body: string;
  error?: string;
}

/** One HTTP request on a fresh connection (the firmware closes every connection anyway). */
function request(url: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request(url + path, { method, agent: false, headers: opts.headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body, error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: '', error: e.code ?? e.message }));
    req.end(opts.body);
  });
}

const json = (text: string, id?: string): { headers: Record<string, string>; body: string } => ({
  headers: { 'Content-Type': 'application/json', ...(id ? { 'X-Request-Id': id } : {}) },
  body: JSON.stringify({ text }),
});

function postBurst(url: string, prefix: string, n: number): Promise<Array<Reply & { id: string }>> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const id = `${prefix}${i}`;
      return { id, ...(await request(url, 'POST', '/api/message', json(`burst ${i}`, id))) };
    }),
  );
}

const STATE_LINE =
  'STATE reactor=1 pressure=105 pump_primary=OFF pump_secondary=OFF pump_tertiary=OFF safety_rod=50 shim_rod=50 regulating_rod=50 power=0';

describe('sim/esp EspFirmware', function () {
  this.timeout(30_000);
  let esp: EspFirmware | undefined;
  let con: Console;
  let truth: TruthRecord[];

  async function boot(extra: Partial<EspFirmwareOptions> = {}): Promise<{ esp: EspFirmware; url: string }> {
    con = new Console();
    truth = [];
    const log = new GroundTruthLog();
    log.onRecord((r) => truth.push(r));
    const e = new EspFirmware({ seed: 7, clock: { offsetUs: 3_000_000, driftPpm: 40 }, console: con.sink, truth: log, ...extra });
    esp = e;
    const { url } = await e.powerOn();
    return { esp: e, url };
  }

  const truthFor = (req: string, kind?: string): TruthRecord[] =>
    truth.filter((r) => r.src === 'esp' && r.req === req && (kind === undefined || r.kind === kind));

  afterEach(async () => {
    await esp?.powerOff();
    esp = undefined;
  });

  it('boots with the banner and a boot line, and serves its state', async () => {
    const { esp, url } = await boot();
    const port = Number(/:(\d+)$/.exec(url)?.[1]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(esp.state, 'on');
    for (const l of ['rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)', 'ESP32 panel-link v1.4', `HTTP server started on port ${port}`]) {
      assert.ok(con.lines.includes(l), `expected console line "${l}"; saw ${con.lines.join(' | ')}`);
    }
    assert.ok(con.lines.some((l) => l.startsWith('WiFi connected')));
    const first = con.hil()[0];
    assert.deepEqual([first?.seq, first?.kind, first?.f.fw, first?.f.ver, first?.f.reset], [1, 'boot', 'esp', '1.4', 'poweron']);
    const state = await request(url, 'GET', '/api/state');
    assert.equal(state.status, 200);
    const { uptime_us, ...rest } = JSON.parse(state.body) as Record<string, unknown>;
    assert.deepEqual(rest, { pi: null, depth: 0, cap: 10, processed: 0, dropped: 0 });
    assert.equal(typeof uptime_us, 'number');
    assert.ok(truth.some((r) => r.kind === 'boot' && r.reset === 'poweron'));
    con.assertTelemetryInvariants();
  });

  it('queues a POST and logs it exactly once: q_put → q_get → done', async () => {
    const { url } = await boot();
    const r = await request(url, 'POST', '/api/message', json('hello', 'h-1'));
    assert.equal(r.status, 202, r.body);
    assert.deepEqual(JSON.parse(r.body), { req: 'h-1', depth: 1, cap: 10 });
    await con.waitFor(/^DB: logged message #1$/, 'DB: logged message #1');
    const mine = con.hil().filter((h) => h.f.req === 'h-1');
    assert.deepEqual(
      mine.map((h) => h.kind),
      ['q_put', 'q_get', 'done'],
    );
    const [put, get, done] = mine as [Hil, Hil, Hil];
    assert.deepEqual([put.f.depth, put.f.cap, get.f.depth], ['1', '10', '0']);
    // The DB write takes 20–40 ms of host time; only the lower bound is tight enough to assert.
    assert.ok(Number(done.f.dur_us) >= 19_000, `done dur_us=${done.f.dur_us} < 19 ms`);
    assert.ok(Number(get.f.wait_us) >= 0);
    assert.equal(con.count(/^DB: logged message #/), 1);
    const kinds = truthFor('h-1').map((t) => t.kind);
    assert.deepEqual(kinds, ['http_rx', 'q_put', 'q_get', 'db_write_start', 'db_write_end']);
    const times = truthFor('h-1').map((t) => t.t);
    assert.deepEqual(times, [...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    con.assertTelemetryInvariants();
  });

  it('accepts the form, REST and color endpoints and assigns ids when none is given', async () => {
    const { url } = await boot();
    const form = await request(url, 'POST', '/message', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'text=hello+from+the+form',
    });
    assert.equal(form.status, 202, form.body);
    const formId = (JSON.parse(form.body) as { req: number }).req;
    assert.equal(typeof formId, 'number');
    const color = await request(url, 'POST', '/api/color', { headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'c1' }, body: '{"r":255,"g":128,"b":0}' });
    const hex = await request(url, 'POST', '/api/color', { headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'c2' }, body: '{"hex":"#00ff7f"}' });
    assert.deepEqual([color.status, hex.status], [202, 202]);
    await con.waitFor(/ done req=c2 /, 'done req=c2');
    assert.equal(con.count(new RegExp(`^HIL \\d+ \\d+ done req=${formId} `)), 1);
    assert.deepEqual(
      truth.filter((r) => r.kind === 'db_write_start').map((r) => r.what),
      ['hello from the form', 'color #FF8000', 'color #00FF7F'],
    );
    const page = await request(url, 'GET', '/');
    assert.match(page.body, /<form method="post" action="\/message">/);
  });

  it('rejects bad input with 4xx and a message naming the problem, queueing nothing', async () => {
    const { url } = await boot();
    const cases: Array<[string, string, { headers?: Record<string, string>; body?: string }, number, RegExp]> = [
      ['POST', '/api/message', { headers: { 'Content-Type': 'application/json' }, body: '{}' }, 400, /"text" is missing/],
      ['POST', '/api/message', { headers: { 'Content-Type': 'application/json' }, body: '{"text":""}' }, 400, /must not be empty/],
      ['POST', '/api/message', { headers: { 'Content-Type': 'application/json' }, body: '{"text":' }, 400, /not valid JSON/],
      ['POST', '/api/message', { headers: { 'Content-Type': 'text/plain' }, body: 'hi' }, 400, /Content-Type application\/json/],
      ['POST', '/api/message', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'x'.repeat(201) }) }, 400, /at most 200/],
      ['POST', '/api/message', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'x'.repeat(2000) }) }, 413, /larger than 1024/],
      ['POST', '/message', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'other=1' }, 400, /"text" is missing/],
      ['POST', '/api/color', { headers: { 'Content-Type': 'application/json' }, body: '{"r":300,"g":0,"b":0}' }, 400, /"r" must be an integer 0–255, got 300/],
      ['POST', '/api/color', { headers: { 'Content-Type': 'application/json' }, body: '{"hex":"zz"}' }, 400, /"hex" must be "#RRGGBB", got "zz"/],
      ['POST', '/api/message', { headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'has space' }, body: '{"text":"a"}' }, 400, /X-Request-Id must match/],
      ['GET', '/api/message', {}, 405, /takes POST/],
      ['GET', '/nope', {}, 404, /no route for \/nope/],
    ];
    for (const [method, path, opts, status, re] of cases) {
      const r = await request(url, method, path, opts);
      assert.equal(r.status, status, `${method} ${path} ${opts.body ?? ''}: ${r.body}`);
      assert.match((JSON.parse(r.body) as { error: string }).error, re);
    }
    assert.equal(con.hil().filter((h) => h.kind === 'q_put' || h.kind === 'q_drop').length, 0);
  });

  it('a burst of 30 never holds more than 10, reports every drop and logs each accepted request once', async () => {
    const { esp, url } = await boot();
    const replies = await postBurst(url, 'b', 30);
    const accepted = replies.filter((r) => r.status === 202).map((r) => r.id);
    const dropped = replies.filter((r) => r.status === 503).map((r) => r.id);
    assert.equal(accepted.length + dropped.length, 30, `unexpected replies: ${JSON.stringify(replies.filter((r) => r.status !== 202 && r.status !== 503))}`);
    // 30 requests land within a few ms; draining one takes ≥ 30 ms, so the buffer must overflow.
    assert.ok(dropped.length > 0, 'expected some 503s');
    for (const id of accepted) await con.waitFor(new RegExp(` done req=${id} `), `done req=${id}`, 10_000);

    const hil = con.hil();
    const ids = (kind: string): string[] => hil.filter((h) => h.kind === kind).map((h) => h.f.req ?? '?');
    const sorted = (a: string[]): string[] => [...a].sort();
    assert.deepEqual(sorted(ids('q_put')), sorted(accepted));
    assert.deepEqual(sorted(ids('q_get')), sorted(accepted));
    assert.deepEqual(sorted(ids('done')), sorted(accepted));
    assert.deepEqual(sorted(ids('q_drop')), sorted(dropped));
    assert.equal(con.count(/^⚠ DB log buffer full, dropping event$/), dropped.length);
    for (const h of hil.filter((x) => x.f.depth !== undefined)) {
      assert.ok(Number(h.f.depth) <= 10, `depth above 10: ${con.lines[h.line]}`);
    }
    for (const h of hil.filter((x) => x.kind === 'q_drop')) assert.equal(h.f.depth, '10');
    for (const id of accepted) assert.equal(truthFor(id, 'db_write_start').length, 1, `db writes for ${id}`);
    for (const id of dropped) assert.equal(truthFor(id, 'db_write_start').length, 0, `db writes for dropped ${id}`);

    // Liveness while draining: the loop's heartbeat never goes quiet for more than 500 ms.
    const firstGet = hil.find((h) => h.kind === 'q_get') as Hil;
    const lastDone = hil.filter((h) => h.kind === 'done').at(-1) as Hil;
    const marks = [firstGet.tUs, ...hil.filter((h) => h.kind === 'hb' && h.tUs > firstGet.tUs && h.tUs < lastDone.tUs).map((h) => h.tUs), lastDone.tUs];
    const worst = Math.max(...marks.slice(1).map((t, i) => t - (marks[i] ?? t)));
    assert.ok(worst <= 500_000, `heartbeat quiet for ${worst} µs while draining`);

    const state = JSON.parse((await request(url, 'GET', '/api/state')).body) as { depth: number; processed: number; dropped: number };
    assert.deepEqual([state.depth, state.processed, state.dropped], [0, accepted.length, dropped.length]);
    assert.equal(con.count(/task_wdt/), 0);
    assert.equal(esp.watchdogResets, 0);
    con.assertTelemetryInvariants();
  });

  it('the fixed firmware survives repeated bursts without a watchdog reset', async () => {
    const { esp, url } = await boot();
    for (let round = 0; round < 3; round++) {
      const replies = await postBurst(url, `r${round}-`, 30);
      for (const r of replies.filter((x) => x.status === 202)) await con.waitFor(new RegExp(` done req=${r.id} `), `done req=${r.id}`, 10_000);
    }
    // Idle well past the watchdog timeout: wait for heartbeats spanning 2 × 300 ms.
    const last = con.hil().at(-1) as Hil;
    await con.waitFor((l) => (parseHil(l, 0)?.tUs ?? 0) > last.tUs + 600_000, 'a line 600 ms after the last burst', 5000);
    assert.equal(con.count(/task_wdt|^HIL \d+ \d+ wdt/), 0);
    assert.equal(con.hil().filter((h) => h.kind === 'boot').length, 1);
    assert.equal(esp.watchdogResets, 0);
    con.assertTelemetryInvariants();
  });

  it('logs a Pi state change received over the UART, once per change', async () => {
    const { esp, url } = await boot();
    esp.uartRx(STATE_LINE + ' future_key=42');
    const first = await con.waitFor(/^HIL \d+ \d+ state src=pi /, 'state src=pi');
    const h = parseHil(con.lines[first] ?? '', first);
    assert.deepEqual([h?.f.reactor, h?.f.pressure, h?.f.pump_primary, h?.f.future_key], ['1', '105', 'OFF', '42']);
    esp.uartRx(STATE_LINE + ' future_key=42');
    esp.uartRx('garbage that is not a STATE line');
    esp.uartRx(STATE_LINE.replace('pump_primary=OFF', 'pump_primary=STARTING') + ' future_key=42');
    await con.waitFor(/state src=pi .*pump_primary=STARTING/, 'state with pump_primary=STARTING', 5000, first + 1);
    assert.equal(con.count(/^HIL \d+ \d+ state src=pi /), 2);
    assert.equal(con.count(/^Pi state: reactor=1 pressure=105 pump_primary=/), 2);
    const state = JSON.parse((await request(url, 'GET', '/api/state')).body) as { pi: Record<string, string> };
    assert.equal(state.pi.pump_primary, 'STARTING');
    assert.ok(truth.some((r) => r.kind === 'state_rx'));
    con.assertTelemetryInvariants();
  });

  it('esp-sync-db: a burst starves the core, the task watchdog resets the ESP and seq restarts', async () => {
    const { esp, url } = await boot({ fault: 'esp-sync-db' });
    const burst = postBurst(url, 'f', 30);
    const wdt = await con.waitFor(/task_wdt: Task watchdog got triggered/, 'the task watchdog panic', 10_000);
    const wdtHil = await con.waitFor(/^HIL \d+ \d+ wdt /, 'HIL wdt', 1000, wdt);
    const reboot = await con.waitFor(/^HIL 1 \d+ boot fw=esp ver=1\.4 reset=wdt$/, 'a boot line with seq 1 after the reset', 10_000, wdtHil);
    const replies = await burst;
    assert.ok(con.lines.slice(wdtHil, reboot).includes('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)'));
    const port = /:(\d+)$/.exec(url)?.[1] ?? '?';
    await con.waitFor((l) => l === `HTTP server started on port ${port}`, `the server back on port ${port}`, 10_000, reboot);
    await esp.powerOn(); // joins the reboot if it is still in progress
    assert.equal(esp.url, url);
    const before = con.hil().filter((h) => h.line < wdt);
    // The faulty handlers wrote synchronously: done lines, no queueing.
    assert.ok(before.some((h) => h.kind === 'done'));
    assert.equal(before.filter((h) => h.kind === 'q_put').length, 0);
    const w = parseHil(con.lines[wdtHil] ?? '', wdtHil);
    assert.equal(w?.f.running, 'async_tcp');
    assert.ok(Number(w?.f.starved_us) >= 300_000, `starved_us=${w?.f.starved_us}`);
    assert.equal(esp.watchdogResets, 1);
    assert.ok(truth.some((r) => r.kind === 'wdt'));
    // Requests cut off by the reset fail at the TCP level; none is answered twice.
    assert.ok(replies.every((r) => r.status === 200 || r.error !== undefined), JSON.stringify(replies.filter((r) => r.status !== 200 && !r.error)));
    const after = JSON.parse((await request(url, 'GET', '/api/state')).body) as { processed: number };
    assert.equal(after.processed, 0, 'state survives a reset');
    con.assertTelemetryInvariants();
  });

  it('esp-sync-db: single requests, one at a time, do not trip the watchdog', async () => {
    const { esp, url } = await boot({ fault: 'esp-sync-db' });
    for (let i = 0; i < 5; i++) {
      const r = await request(url, 'POST', '/api/message', json('one', `s${i}`));
      assert.equal(r.status, 200, r.body);
    }
    const last = con.hil().at(-1) as Hil;
    await con.waitFor((l) => (parseHil(l, 0)?.tUs ?? 0) > last.tUs + 600_000, 'a line 600 ms after the last request', 5000);
    assert.equal(con.hil().filter((h) => h.kind === 'done').length, 5);
    assert.equal(con.count(/task_wdt|^HIL \d+ \d+ wdt/), 0);
    assert.equal(esp.watchdogResets, 0);
    con.assertTelemetryInvariants();
  });

  it('power off: the server is gone and the firmware stops; power on: the same URL works and seq restarts', async () => {
    const { esp, url } = await boot();
    assert.equal((await request(url, 'POST', '/api/message', json('before', 'p1'))).status, 202);
    await con.waitFor(/ done req=p1 /, 'done req=p1');
    await esp.powerOff();
    assert.equal(esp.powered, false);
    assert.equal(esp.state, 'off');
    const refused = await request(url, 'GET', '/api/state');
    assert.equal(refused.error, 'ECONNREFUSED');
    // A running firmware prints a heartbeat every 250 ms; a terminated one prints nothing.
    const bytes = con.bytes;
    const records = truth.length;
    esp.uartRx(STATE_LINE);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(con.bytes, bytes, `output after power off: ${con.lines.slice(-3).join(' | ')}`);
    assert.equal(truth.length, records);

    const mark = con.lines.length;
    const again = await esp.powerOn();
    assert.equal(again.url, url);
    const boots = con.hil(mark);
    assert.deepEqual([boots[0]?.seq, boots[0]?.kind, boots[0]?.f.reset], [1, 'boot', 'poweron']);
    const r = await request(url, 'POST', '/api/message', json('after', 'p2'));
    assert.deepEqual([r.status, (JSON.parse(r.body) as { depth: number }).depth], [202, 1]);
    const done = await con.waitFor(/ done req=p2 /, 'done req=p2', 5000, mark);
    // The counter restarts with the firmware.
    await con.waitFor(/^DB: logged message #1$/, 'DB: logged message #1 after power-on', 5000, done);
    con.assertTelemetryInvariants();
  });

  it('power removed while booting rejects powerOn and leaves the ESP off', async () => {
    con = new Console();
    const e = new EspFirmware({ seed: 1, clock: { offsetUs: 0, driftPpm: 0 }, console: con.sink });
    esp = e;
    const on = e.powerOn();
    await e.powerOff();
    await assert.rejects(on, /power/);
    assert.equal(e.state, 'off');
  });

  it('refuses bad options, naming the field and the value', () => {
    const base = { seed: 1, clock: { offsetUs: 0, driftPpm: 0 }, console: (): void => undefined };
    assert.throws(() => new EspFirmware({ ...base, seed: Number.NaN }), /"seed" must be a finite number, got NaN/);
    assert.throws(() => new EspFirmware({ ...base, wdtTimeoutMs: 0 }), /"wdtTimeoutMs" must be a positive number of ms, got 0/);
    assert.throws(() => new EspFirmware({ ...base, port: 70000 }), /"port" must be an integer 0–65535, got 70000/);
    assert.throws(() => new EspFirmware(base).url, /no URL yet: power it on first \(state=off\)/);
  });
});
