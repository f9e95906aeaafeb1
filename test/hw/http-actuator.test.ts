import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpActuator } from '../../harness/core/http-actuator.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { GroundTruthLog, type TruthRecord } from '../../harness/sim/ground-truth.ts';
import { EspFirmware } from '../../harness/sim/esp/index.ts';

// Real HTTP on loopback against the simulated ESP's web server.
describe('HttpActuator (against the simulated ESP)', function () {
  this.timeout(30_000);
  let esp: EspFirmware;
  let url: string;
  let lines: string[];
  let truth: TruthRecord[];

  beforeEach(async function () {
    lines = [];
    truth = [];
    const gt = new GroundTruthLog();
    gt.onRecord((r) => truth.push(r));
    let partial = '';
    esp = new EspFirmware({
      seed: 3,
      clock: { offsetUs: 1_000_000, driftPpm: 10 },
      truth: gt,
      console: (chunk: Buffer) => {
        const parts = (partial + chunk.toString('utf8')).split('\n');
        partial = parts.pop() ?? '';
        for (const p of parts) lines.push(p.replace(/\r$/, ''));
      },
    });
    ({ url } = await esp.powerOn());
  });

  afterEach(async function () {
    await esp.powerOff();
  });

  it('sends one request with an id the device logs, and records request and response', async function () {
    const log = new ObservationLog();
    const a = new HttpActuator('esp', url, log);
    const r = await a.request({ path: '/api/message', body: { text: 'hello bench' } });
    expect(r.status).to.equal(202);
    expect(r.requestId).to.equal('h1');
    expect(JSON.parse(r.body)).to.include({ req: 'h1' });
    log.flush();
    const req = log.at(r.requestIndex)!;
    const res = log.at(r.responseIndex)!;
    expect([req.source, req.kind, req.fields]).to.deep.equal(['http', 'request', { request_id: 'h1', device: 'esp', method: 'POST', path: '/api/message' }]);
    expect([res.kind, res.fields?.request_id, res.fields?.status]).to.deep.equal(['response', 'h1', 202]);
    expect(res.t > req.t).to.equal(true);
    // The ESP's own telemetry names the same id.
    const deadline = Date.now() + 5000;
    while (!lines.some((l) => / q_put req=h1 /.test(l)) && Date.now() < deadline) await new Promise((r2) => setTimeout(r2, 20));
    expect(lines.filter((l) => / q_put req=h1 /.test(l))).to.have.length(1);
  });

  it('a burst of 25 at once: every request answered, drops are 503s the device reported, ids unique', async function () {
    const log = new ObservationLog();
    const a = new HttpActuator('esp', url, log);
    const results = await a.burst(Array.from({ length: 25 }, (_, i) => ({ path: '/api/message', body: { text: `burst ${i}` } })));
    expect(results).to.have.length(25);
    expect(new Set(results.map((r) => r.requestId)).size).to.equal(25);
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 503), statuses.join(',')).to.equal(true);
    const dropped = results.filter((r) => r.status === 503).map((r) => r.requestId).sort();
    const truthDrops = truth.filter((t) => t.kind === 'q_drop').map((t) => String(t.req)).sort();
    expect(dropped).to.deep.equal(truthDrops);
    log.flush();
    const recorded = [...log.since(0)];
    expect(recorded.filter((o) => o.kind === 'request')).to.have.length(25);
    expect(recorded.filter((o) => o.kind === 'response')).to.have.length(25);
    expect(recorded.filter((o) => o.kind === 'burst')).to.have.length(1);
  });

  it('a device that is off: no response, a message saying so, recorded as http_error', async function () {
    await esp.powerOff();
    const log = new ObservationLog();
    const r = await new HttpActuator('esp', url, log).request({ path: '/api/state' });
    expect(r.status).to.equal(0);
    expect(r.error).to.match(/^connection refused by 127\.0\.0\.1:\d+ \(device off, rebooting, or its server not started\)$/);
    log.flush();
    expect(log.at(r.responseIndex)!.kind).to.equal('http_error');
  });

  it('a server that never answers times out with the deadline in the message', async function () {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const log = new ObservationLog();
      const port = (silent.address() as AddressInfo).port;
      const r = await new HttpActuator('esp', `http://127.0.0.1:${port}`, log).request({ path: '/api/state', timeoutMs: 300 });
      expect(r.status).to.equal(0);
      expect(r.error).to.equal('no response within 300 ms');
      expect(r.ms).to.be.within(250, 5000);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses a request the guard refuses, sending nothing', async function () {
    const log = new ObservationLog();
    const a = new HttpActuator('esp', url, log, {
      guard: (what) => {
        throw new Error(`refused: ${what}`);
      },
    });
    expect(() => a.request({ path: '/api/message', body: { text: 'x' } })).to.throw('refused: POST /api/message');
    await new Promise((r) => setTimeout(r, 100));
    expect(truth.filter((t) => t.kind === 'http_rx')).to.have.length(0);
  });
});
