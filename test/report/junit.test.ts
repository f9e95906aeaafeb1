import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { writeJunit } from '../../harness/report/junit.ts';
import { tempDirPerTest, TRICKY } from './helpers.ts';

describe('junit.xml', function () {
  const tmp = tempDirPerTest();

  it('carries the run as <properties> and the consoles around a failure as its <system-out>, escaped', function () {
    const file = path.join(tmp.dir, 'junit.xml');
    writeJunit(
      file,
      'hil sim-bench r1',
      [
        { classname: '10-buttons.spec.ts', name: 'buttons one press', timeMs: 120, verdict: 'PASS', message: '' },
        { classname: '10-buttons.spec.ts', name: 'buttons burst', timeMs: 900, verdict: 'FAIL', message: 'callback-latency: over', systemOut: `  12.500  pi | HIL 4 100 cb dur_us=25000\n  12.700  esp | ${TRICKY} <tag> & \u0007` },
        { classname: 'setup', name: 'flash', timeMs: 0, verdict: 'ERROR', message: 'port gone' },
      ],
      [['rig', 'sim-bench'], ['seed', '7'], ['fault', 'slow-callback'], ['firmware.pi', 'panel 3.3']],
    );
    const xml = fs.readFileSync(file, 'utf8');
    expect(xml).to.contain('<properties>\n    <property name="rig" value="sim-bench"/>\n    <property name="seed" value="7"/>\n    <property name="fault" value="slow-callback"/>\n    <property name="firmware.pi" value="panel 3.3"/>\n  </properties>');
    const failing = /<testcase classname="10-buttons.spec.ts" name="buttons burst"[^]*?<\/testcase>/.exec(xml)![0];
    expect(failing).to.match(/<failure type="FAIL"[^]*<\/failure>\n {4}<system-out> {2}12.500 {2}pi \| HIL 4 100 cb dur_us=25000\n/);
    expect(failing).to.contain('&lt;tag&gt; &amp; \\x07</system-out>');
    // A passing test stays one element; the error keeps its own kind.
    expect(xml).to.contain('<testcase classname="10-buttons.spec.ts" name="buttons one press" time="0.120"/>');
    expect(xml).to.match(/<error type="ERROR" message="port gone">port gone<\/error>/);
  });
});
