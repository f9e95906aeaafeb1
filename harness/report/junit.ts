import fs from 'node:fs';
import type { TestOutcome } from './rows.ts';

/** One test for junit.xml. */
export interface JunitCase {
  classname: string;
  name: string;
  timeMs: number;
  verdict: TestOutcome;
  /** Why it did not pass (one reason per line). */
  message: string;
}

const esc = (s: string): string =>
  s
    // XML 1.0 cannot carry most control characters, even escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/**
 * junit.xml for CI from the harness's own verdicts, so HUNG and ERROR stay apart there too:
 * FAIL, HUNG and TIMEOUT are `<failure type="VERDICT">`, ERROR is `<error>`, ABORTED is
 * `<skipped>`. Written whole, to a temporary file renamed into place.
 */
export function writeJunit(file: string, suite: string, cases: readonly JunitCase[]): void {
  const count = (v: TestOutcome[]) => cases.filter((c) => v.includes(c.verdict)).length;
  const total = cases.reduce((n, c) => n + c.timeMs, 0) / 1000;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${esc(suite)}" tests="${cases.length}" failures="${count(['FAIL', 'HUNG', 'TIMEOUT'])}" errors="${count(['ERROR'])}" skipped="${count(['ABORTED'])}" time="${total.toFixed(3)}">`,
  ];
  for (const c of cases) {
    const head = `  <testcase classname="${esc(c.classname)}" name="${esc(c.name)}" time="${(c.timeMs / 1000).toFixed(3)}"`;
    const first = esc(c.message.split('\n')[0] ?? '');
    if (c.verdict === 'PASS') lines.push(`${head}/>`);
    else if (c.verdict === 'ERROR') lines.push(`${head}>`, `    <error type="ERROR" message="${first}">${esc(c.message)}</error>`, '  </testcase>');
    else if (c.verdict === 'ABORTED') lines.push(`${head}>`, `    <skipped message="ABORTED: ${first}"/>`, '  </testcase>');
    else lines.push(`${head}>`, `    <failure type="${c.verdict}" message="${c.verdict}: ${first}">${esc(c.message)}</failure>`, '  </testcase>');
  }
  lines.push('</testsuite>', '');
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, lines.join('\n'));
    fs.renameSync(tmp, file);
  } catch (error) {
    // A full disk leaves no half-written temporary file behind.
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}
