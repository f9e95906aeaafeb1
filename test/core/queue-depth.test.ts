import { expect } from 'chai';
import type { Observation } from '../../harness/core/observation.ts';
import { QueueDepths, reportedDepth } from '../../harness/core/queue-depth.ts';

const obs = (source: string, kind: string, fields?: Record<string, string | number>, i = 0): Observation => ({ i, t: 0n, source, kind, ...(fields ? { fields } : {}) });

describe('QueueDepths', function () {
  it('a depth is what a heartbeat, put, take or drop says, and 0 at a boot; nothing else is one', function () {
    for (const kind of ['hb', 'q_put', 'q_get', 'q_drop']) expect(reportedDepth(obs('pi', kind, { depth: 3 })), kind).to.equal(3);
    expect(reportedDepth(obs('pi', 'boot'))).to.equal(0);
    expect(reportedDepth(obs('pi', 'hb', { thread: 'irq' }))).to.equal(undefined);
    expect(reportedDepth(obs('pi', 'done', { depth: 3 }))).to.equal(undefined);
  });

  it('keeps each device\'s latest, undefined until it reports one', function () {
    const q = new QueueDepths();
    expect(q.get('pi')).to.equal(undefined);
    q.observe(obs('pi', 'q_put', { depth: 1 }));
    q.observe(obs('pi', 'q_put', { depth: 2 }));
    q.observe(obs('esp', 'hb', { depth: 0 }));
    q.observe(obs('pi', 'line'));
    expect([...q]).to.deep.equal([['pi', 2], ['esp', 0]]);
    q.observe(obs('pi', 'boot'));
    expect(q.get('pi')).to.equal(0);
  });
});
