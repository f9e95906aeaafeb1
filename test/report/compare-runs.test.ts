import path from 'node:path';
import { expect } from 'chai';
import { compareRuns } from '../../harness/report/compare-runs.ts';
import { syntheticRun, tempDir, writeRun } from './helpers.ts';

describe('compareRuns', function () {
  it('lists verdict changes and cb/proc p99 changes per test, and added/removed tests', function () {
    const { dir, cleanup } = tempDir();
    try {
      const a = syntheticRun();
      const b = syntheticRun();
      b.tests[0] = { ...b.tests[0]!, outcome: 'FAIL', cbP99Us: 234, procP99Ms: 3.8 };
      b.tests.splice(2, 1); // the hung test is gone
      b.tests.push({ scenario: 'new', test: 'fresh', outcome: 'PASS' });
      writeRun(path.join(dir, 'a'), a, 'run-a');
      writeRun(path.join(dir, 'b'), b, 'run-b');
      const text = compareRuns(path.join(dir, 'a'), path.join(dir, 'b'));
      const lines = text.trimEnd().split('\n');
      expect(lines[0]).to.equal('run-a → run-b: 5 tests, 3 verdict changes');
      expect(lines[1]).to.match(/^test\s+verdict\s+cb p99 µs\s+proc p99 ms$/);
      const row = (name: string) => lines.find((l) => l.startsWith(name))!;
      expect(row('queue › bursts › burst of 12')).to.match(/PASS → FAIL\s+117\.0 → 234\.0 \(\+100%\)\s+7\.600 → 3\.800 \(-50%\)$/);
      expect(row('http › http log, buffer')).to.match(/FAIL$/);
      expect(row('queue › hang "deadlock"')).to.contain('HUNG (removed)');
      expect(row('new › fresh')).to.contain('(added) PASS');
      expect(row('model › model-based')).to.match(/PASS$/);
    } finally {
      cleanup();
    }
  });
});
