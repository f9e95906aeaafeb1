import { expect } from 'chai';
import { Progress, type PropertyLive } from '../../harness/runner/property.ts';

describe('property progress line', function () {
  it("counts the property's own presses and requests, not every one since the bench opened", function () {
    const live: PropertyLive = { presses: 840, requests: 3, queues: 'pi 0 esp 0' };
    const p = new Progress('bursts', () => ({ ...live }));
    expect(p.live()).to.equal('0 presses, 0 requests, queue pi 0 esp 0');
    live.presses += 25;
    live.requests += 2;
    live.queues = 'pi 4 esp 1';
    expect(p.live()).to.equal('25 presses, 2 requests, queue pi 4 esp 1');
    expect(new Progress('no bench').live()).to.equal(undefined);
  });
});
