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
  /** Written as `<system-out>` (CI viewers show it next to the failure): the consoles around it. */
  systemOut?: string;
}

/** Run-level facts written as the suite's `<properties>` (rig, seed, fault, firmware…). */
export type JunitProperties = ReadonlyArray<readonly [string, string]>;

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
export function writeJunit(file: string, suite: string, cases: readonly JunitCase[], properties: JunitProperties = []): void {
  const count = (v: TestOutcome[]) => cases.filter((c) => v.includes(c.verdict)).length;
  const total = cases.reduce((n, c) => n + c.timeMs, 0) / 1000;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${esc(suite)}" tests="${cases.length}" failures="${count(['FAIL', 'HUNG', 'TIMEOUT'])}" errors="${count(['ERROR'])}" skipped="${count(['ABORTED'])}" time="${total.toFixed(3)}">`,
  ];
  if (properties.length > 0) {
    lines.push('  <properties>', ...properties.map(([k, v]) => `    <property name="${esc(k)}" value="${esc(v)}"/>`), '  </properties>');
  }
  for (const c of cases) {
    const head = `  <testcase classname="${esc(c.classname)}" name="${esc(c.name)}" time="${(c.timeMs / 1000).toFixed(3)}"`;
    const first = esc(c.message.split('\n')[0] ?? '');
    const out = c.systemOut ? [`    <system-out>${esc(c.systemOut)}</system-out>`] : [];
    if (c.verdict === 'PASS') lines.push(...(out.length ? [`${head}>`, ...out, '  </testcase>'] : [`${head}/>`]));
    else if (c.verdict === 'ERROR') lines.push(`${head}>`, `    <error type="ERROR" message="${first}">${esc(c.message)}</error>`, ...out, '  </testcase>');
    else if (c.verdict === 'ABORTED') lines.push(`${head}>`, `    <skipped message="ABORTED: ${first}"/>`, ...out, '  </testcase>');
    else lines.push(`${head}>`, `    <failure type="${c.verdict}" message="${c.verdict}: ${first}">${esc(c.message)}</failure>`, ...out, '  </testcase>');
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
