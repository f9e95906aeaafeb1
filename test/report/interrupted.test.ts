import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { readObservations } from '../../harness/report/observations-jsonl.ts';
import { readReport } from '../../harness/report/read-report.ts';
import { tempDir } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/interrupted-writer.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Run the fixture until it reports `rows` rows written, then SIGKILL it. Returns the last reported count. */
function runAndKill(dir: string, rows: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', FIXTURE, dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let reported = 0;
    let killed = false;
    let stderr = '';
    let partial = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = /^wrote (\d+)$/.exec(line);
        if (m) reported = Number(m[1]);
      }
      if (!killed && reported >= rows) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`fixture exited by itself (code ${code}, signal ${signal}); stderr: ${stderr}`));
      else resolve(reported);
    });
  });
}

describe('report files of an interrupted run', function () {
  this.timeout(30_000);

  it('are valid CSV with every row the writer reported, after SIGKILL mid-run', async function () {
    const { dir, cleanup } = tempDir();
    try {
      const reported = await runAndKill(dir, 1500);
      expect(reported).to.be.at.least(1500);
      // readReport parses strictly: a torn row would throw or misalign columns.
      const r = readReport(dir);
      expect(r.missing).to.deep.equal([]);
      // The child may have written a few more rows than it got to report, never fewer.
      expect(r.events.length).to.be.at.least(reported);
      r.events.forEach((e, k) => {
        expect(e.press_id).to.equal(String(k + 1));
        expect(e.test).to.equal(`burst, "k" ${(k + 1) % 3}`);
        expect(e.dev_edge_us).to.equal(String((k + 1) * 1000));
        expect(e.outcome).to.equal('processed');
      });
      expect(r.violations.length).to.be.at.least(Math.floor(reported / 10));
      r.violations.forEach((v, k) => expect(v.detail).to.equal(`row ${(k + 1) * 10}\nline two, ü`));
      expect(r.summary.length).to.be.at.least(Math.floor(reported / 25));
      r.summary.forEach((s, k) => expect([s.test, s.outcome]).to.deep.equal([`test ${(k + 1) * 25}`, 'PASS']));

      // observations.jsonl loses at most the last batch, and holds only whole lines in order.
      const obs = await readObservations(path.join(dir, 'observations.jsonl'));
      expect(obs.length).to.be.greaterThan(0);
      obs.forEach((o, k) => {
        expect(o.i).to.equal(k);
        expect(o.seq).to.equal(k + 1);
        expect(o.fields?.note).to.equal(`row ${k + 1}, "quoted"\nnext`);
      });
    } finally {
      cleanup();
    }
  });
});
