// The C++ ESP firmware built for the host, run on its own (no bench): the healthy ring, the
// watchdog reset of the sync-db bug, and ThreadSanitizer's report of the unlocked ring.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { buildEspFirmware } from '../../bench/firmware.ts';

interface Running {
  child: ChildProcess;
  port: number;
  text: () => string;
  waitFor: (re: RegExp, ms: number) => Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function start(binary: string, args: string[] = []): Promise<Running> {
  const port = await freePort();
  const child = spawn(binary, args, { env: { ...process.env, HIL_HTTP_PORT: String(port) }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const waitFor = async (re: RegExp, ms: number): Promise<void> => {
    const t0 = Date.now();
    while (!re.test(out)) {
      if (Date.now() - t0 > ms) throw new Error(`expected ${String(re)} on the ESP console within ${ms} ms; saw:\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitFor(/HTTP server started on port/, 10_000);
  return { child, port, text: () => out, waitFor };
}

function post(port: number, id: string, text: string): Promise<number | string> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ text });
    const req = http.request(
      { host: '127.0.0.1', port, path: '/api/message', method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'X-Request-Id': id } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    req.end(body);
  });
}

describe('examples/firmware/esp: the C++ firmware on the host', function () {
  this.timeout(120_000);
  const kids: ChildProcess[] = [];
  afterEach(() => {
    for (const k of kids.splice(0)) k.kill('SIGKILL');
  });

  it('healthy: a burst of 30 fills the ring of 10, refuses the rest with 503 and q_drop, logs each accepted event once', async function () {
    const esp = await start(await buildEspFirmware());
    kids.push(esp.child);
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => post(esp.port, `t${i}`, `m${i}`)));
    const accepted = statuses.filter((s) => s === 202).length;
    assert.equal(accepted + statuses.filter((s) => s === 503).length, 30, `statuses: ${statuses.join(',')}`);
    assert.ok(accepted >= 10, `at least the ring's 10 accepted, got ${accepted}`);
    await esp.waitFor(new RegExp(`DB: logged message #${accepted}\\r?\\n`), 10_000);
    const t = esp.text();
    for (let i = 0; i < 30; i++) {
      const done = t.match(new RegExp(`^HIL \\d+ \\d+ done req=t${i} `, 'gm'))?.length ?? 0;
      const dropped = new RegExp(`^HIL \\d+ \\d+ q_drop req=t${i} `, 'm').test(t);
      assert.equal(done + (dropped ? 1 : 0), 1, `request t${i}: done ${done}×, dropped ${dropped}`);
    }
    assert.equal((t.match(/queue full/g) ?? []).length, 30 - accepted);
    assert.doesNotMatch(t, /task_wdt/);
  });

  it('sync-db: a burst starves the idle task; the task watchdog prints the ESP-IDF panic and the firmware boots again', async function () {
    const esp = await start(await buildEspFirmware(), ['--bug', 'sync-db']);
    kids.push(esp.child);
    await Promise.all(Array.from({ length: 30 }, (_, i) => post(esp.port, `s${i}`, 'x')));
    await esp.waitFor(/task_wdt: Task watchdog got triggered/, 10_000);
    await esp.waitFor(/rst:0xc \(SW_CPU_RESET\)[\s\S]*HIL 1 \d+ boot fw=esp ver=1\.4 reset=wdt[\s\S]*HTTP server started on port/, 10_000);
    assert.equal(await post(esp.port, 'after', 'x'), 200, 'the server answers again after the reset');
  });

  it('ThreadSanitizer build: the ring shared without a lock between the handler and loop() is reported as a data race', async function () {
    const esp = await start(await buildEspFirmware({ tsan: true }));
    kids.push(esp.child);
    await Promise.all(Array.from({ length: 5 }, (_, i) => post(esp.port, `r${i}`, 'x')));
    await esp.waitFor(/^WARNING: ThreadSanitizer: data race/m, 20_000);
    await esp.waitFor(/SUMMARY: ThreadSanitizer: data race src\/panel_link\.cpp:\d+ in (queueDatabaseEvent|processPendingDatabaseEvents)/, 5000);
    assert.doesNotMatch(esp.text(), /SUMMARY: ThreadSanitizer: \S+ host\//, 'the shim itself must be race-free');
  });
});
