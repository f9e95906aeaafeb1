/**
 * Bench smoke: before anything is pressed, every device console is alive and clean. Copy this
 * file to start a new scenario: reach the rig through `session()`, wait on the observation log
 * with a deadline, never sleep.
 */
import { expect } from 'chai';
import { session } from '../harness/runner/context.ts';

describe('smoke: device consoles', function () {
  for (const device of ['pi', 'esp']) {
    it(`${device}: boots and sends heartbeats`, async function () {
      const s = session();
      const bootMs = s.rig.power[device]?.bootMs ?? 5000;
      // Look back as far as the log goes: the device may have booted before this test.
      await s.log.waitFor({ topic: `${device}.hb` }, { within: bootMs + 3000, from: s.log.windowStart });
      const first = await s.log.waitFor({ topic: `${device}.hb` }, { within: 2000 });
      const second = await s.log.waitFor({ topic: `${device}.hb` }, { within: 2000, from: first.index + 1 });
      expect(Number(second.t - first.t) / 1e6, 'heartbeat period (ms)').to.be.below(1000);
    });
  }

  it('telemetry arrives without sequence gaps and with a steady device clock', async function () {
    const s = session();
    // Give every device six seconds of output to judge: the clock fit's drift is the slope of a
    // lower envelope, and over two seconds a console that arrives in 10 ms batches (the sim paces
    // its lines, a USB-serial adapter buffers them) moves that slope by hundreds of ppm: a healthy
    // crystal of 10–60 ppm read as 500.25 ppm, the fit's own clamp, and failed this check.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 6000);
      t.unref();
    });
    for (const device of ['pi', 'esp']) {
      let last: number | undefined;
      const gaps: string[] = [];
      for (const o of s.log.since(0)) {
        if (o.source !== device || o.seq === undefined) continue;
        if (o.kind === 'boot') last = undefined;
        if (last !== undefined && o.seq !== last + 1) gaps.push(`#${o.i}: seq ${last} → ${o.seq}`);
        last = o.seq;
      }
      expect(gaps, `${device} seq gaps`).to.deep.equal([]);
      const m = s.clocks.mapping(device);
      expect(m, `${device} clock mapping`).to.not.equal(undefined);
      expect(Math.abs(m!.driftPpm), `${device} drift (ppm)`).to.be.below(500);
    }
  });

  it('the ESP answers HTTP', async function () {
    const url = session().httpUrls.get('esp');
    expect(url, 'ESP HTTP address').to.be.a('string');
    const res = await fetch(`${url}/api/state`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { cap?: number };
    expect(body.cap).to.equal(session().rig.devices.esp?.queue?.capacity);
  });

  it('no device printed a forbidden line', function () {
    const deaths = session().deathWatch.take();
    expect(deaths.map((d) => d.message)).to.deep.equal([]);
  });
});
