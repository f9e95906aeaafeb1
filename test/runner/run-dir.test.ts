/** Run folders: two runs that start in the same second never share one. */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimRunDir } from '../../harness/runner/run.ts';

describe('run folders', function () {
  let out: string;
  beforeEach(function () {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-rundir-'));
  });
  afterEach(function () {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('claims a new folder per run, suffixing -2, -3 when the second-resolution name is taken', function () {
    const claimed = Array.from({ length: 4 }, () => claimRunDir(out));
    const ids = claimed.map((c) => c.id);
    expect(new Set(ids).size, ids.join(' ')).to.equal(4);
    for (const c of claimed) {
      expect(c.dir).to.equal(path.join(out, c.id));
      expect(fs.statSync(c.dir).isDirectory()).to.equal(true);
      expect(c.id).to.match(/^\d{8}-\d{6}Z(-\d+)?$/);
    }
    // Four claims within microseconds span at most two seconds: at least two share a base name.
    const bases = ids.map((id) => id.replace(/-\d+$/, ''));
    expect(new Set(bases).size).to.be.below(4);
    expect(ids.some((id) => /Z-\d+$/.test(id))).to.equal(true);
  });

  it('creates the output folder itself', function () {
    const nested = path.join(out, 'a', 'b');
    const { dir } = claimRunDir(nested);
    expect(fs.existsSync(dir)).to.equal(true);
  });
});
