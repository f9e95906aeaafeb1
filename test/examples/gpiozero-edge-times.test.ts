// The gpiozero panel's bench adapter debounces as RPi.GPIO does (an edge within bounce_time of
// the last one reported is not reported). Timed on arrival, that drops a release that reaches the
// program together with its press, as a loaded host delivers them, and gpiozero then takes the
// button as held: its next press is lost. With `--dut-edge-times` the bench sends each change with
// its contact time and the debounce runs on it, as on a Pi whose kernel timestamps the edge.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ADAPTER = fileURLToPath(new URL('../../examples/firmware/panel/hil_bench.py', import.meta.url));
const hasGpiozero = spawnSync('/usr/bin/python3', ['-c', 'import gpiozero'], { stdio: 'ignore' }).status === 0;
const MS = 1_000_000n;

/** Feed the adapter these stdin lines in one write; the edges it printed for GPIO 4, in order. */
async function edgesPrinted(lines: string[]): Promise<string[]> {
  const child = spawn('/usr/bin/python3', ['-u', ADAPTER, '--style', 'ids'], { env: { ...process.env, HIL_GPIO_MAP: JSON.stringify({ REACTOR_START: 4 }) }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // Once it is up (its ready line), everything at once: a starved program reads it in one go.
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(out, 'the adapter did not start').to.include('ready');
  child.stdin.write(lines.map((l) => `${l}\n`).join(''));
  await new Promise((r) => setTimeout(r, 800));
  child.stdin.end();
  child.kill('SIGKILL');
  await exited;
  return [...out.matchAll(/ edge pin=4 level=(\d)/g)].map((m) => m[1]!);
}

/** Two presses of one button, 100 ms apart, each with contact bounce, held 30 ms. */
function twoPresses(withTimes: boolean): string[] {
  const t0 = process.hrtime.bigint();
  const at = (ms: number): string => (withTimes ? ` ${t0 + BigInt(Math.round(ms * 1000)) * (MS / 1000n)}` : '');
  return [0, 100].flatMap((p) => [`gpio 4 0${at(p)}`, `gpio 4 1${at(p + 0.2)}`, `gpio 4 0${at(p + 0.4)}`, `gpio 4 1${at(p + 30)}`]);
}

describe('examples/firmware/panel: debounce on the contact time (--dut-edge-times)', function () {
  this.timeout(20_000);
  before(function () {
    if (hasGpiozero) return;
    if (process.env.CI) throw new Error('python3-gpiozero is not installed for /usr/bin/python3 (apt-get install -y python3-gpiozero)');
    console.log('      (pending: `sudo apt-get install -y python3-gpiozero` runs the gpiozero panel tests)');
    this.skip();
  });

  it('with contact times, presses delivered late and bunched are each one press and one release', async function () {
    expect(await edgesPrinted(twoPresses(true))).to.deep.equal(['0', '1', '0', '1']);
  });

  it('without them, the same lines timed on arrival lose the release and then the second press', async function () {
    // The failure mode the contact times remove: only the first press is reported.
    expect(await edgesPrinted(twoPresses(false))).to.deep.equal(['0']);
  });
});
