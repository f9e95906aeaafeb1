/** Both GitHub workflows checked against the workflow schema by action-validator (from npm, no download). */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const VALIDATOR = path.resolve('node_modules/.bin/action-validator');
const WORKFLOWS = path.resolve('.github/workflows');

function validate(file: string): { code: number | null; out: string } {
  const r = spawnSync(VALIDATOR, [file], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('GitHub workflows', function () {
  this.timeout(60_000);
  const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));

  it('there are the two: ci and the nightly bench', function () {
    expect(files.sort()).to.deep.equal(['ci.yml', 'nightly-bench.yml']);
  });

  for (const f of ['ci.yml', 'nightly-bench.yml']) {
    it(`${f} is a valid workflow`, function () {
      const r = validate(path.join(WORKFLOWS, f));
      expect(r.code, r.out).to.equal(0);
    });
  }

  it('the validator rejects a broken workflow (a misspelt key), naming it', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-wf-'));
    try {
      const bad = path.join(dir, 'bad.yml');
      fs.writeFileSync(bad, 'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: echo\n');
      const r = validate(bad);
      expect(r.code).to.equal(1);
      expect(r.out).to.contain("Additional property 'stepz' is not allowed");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
