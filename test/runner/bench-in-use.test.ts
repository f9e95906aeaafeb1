/**
 * A port another process holds is the bench in use: a second harness gets exit 2 and one line
 * naming the port and the process that holds it, and no run folder. The ports are the real PTYs
 * of a simulated bench that stays up, held by another process through serialport's own lock.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineDecoder } from '../../harness/core/decoders.ts';
import { ObservationLog } from '../../harness/core/observation-log.ts';
import { FirmataBoard } from '../../harness/hw/firmata-board.ts';
import { SerialLineSource } from '../../harness/hw/serial-line-source.ts';
import { startSimBench, type SimBenchHandle } from '../../harness/sim/sim-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
const PASS = path.join(ROOT, 'test/fixtures/takeover/pass.spec.ts');
const ENV = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
const hil = (...args: string[]) => spawnSync(process.execPath, [HIL, ...args], { cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 120_000 });

/** Another process that opens `port` with serialport (its exclusive lock) and keeps it. */
async function holdPort(port: string): Promise<ChildProcess> {
  const script = `const { SerialPort } = require(${JSON.stringify(path.join(ROOT, 'node_modules/serialport'))});
new SerialPort({ path: process.argv[1], baudRate: 57600 }, (e) => { if (e) { console.error(e.message); process.exit(1); } console.log('HELD'); });
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script, port], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', () => reject(new Error(`the holder could not open ${port}: ${err}`)));
  });
  return child;
}

describe('a busy port is the bench in use', function () {
  this.timeout(120_000);
  let sim: SimBenchHandle;
  let dir: string;
  let rigFile: string;
  let holder: ChildProcess | undefined;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hil-in-use-'));
    sim = await startSimBench({ groundTruthPath: path.join(dir, 'truth.jsonl') });
    const ports = sim.description.ports;
    rigFile = path.join(dir, 'standing-bench.mts');
    fs.writeFileSync(
      rigFile,
      `import base from ${JSON.stringify(path.join(ROOT, 'rigs/sim-bench.ts'))};
export default {
  ...base,
  name: 'standing-bench',
  simulated: false,
  boards: { 'relays-a': { port: { path: ${JSON.stringify(ports['relays-a'])} } }, 'relays-b': { port: { path: ${JSON.stringify(ports['relays-b'])} } } },
  devices: {
    pi: { ...base.devices.pi, port: { path: ${JSON.stringify(ports.pi)} } },
    esp: { ...base.devices.esp, port: { path: ${JSON.stringify(ports.esp)} }, http: { url: ${JSON.stringify(sim.description.http.esp)} } },
  },
};
`,
    );
  });

  afterEach(async function () {
    if (holder && holder.exitCode === null) {
      const gone = new Promise((r) => holder!.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
    }
    holder = undefined;
  });

  after(async function () {
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const part of ['relays-a', 'pi'] as const) {
    it(`hil run while another process holds ${part}'s port: exit 2, one line naming the port and the holder, no run folder`, async function () {
      const port = sim.description.ports[part]!;
      holder = await holdPort(port);
      const out = path.join(dir, `reports-${part}`);
      const r = hil('run', '--rig', rigFile, '--out', out, PASS);
      expect(r.status, r.stdout + r.stderr).to.equal(2);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0]).to.match(
        new RegExp(`^hil: ${part}: ${port} is held by pid ${holder.pid} \\(node -e const \\{ SerialPort \\} = require.*\\): the bench is in use \\(another harness, or a serial monitor\\); nothing was run$`),
      );
      expect(r.stdout, 'no banner: nothing started').to.equal('');
      expect(fs.existsSync(out) ? fs.readdirSync(out) : [], 'run folders left behind').to.deep.equal([]);
    });
  }

  it('the port taken between the check and the open (a race): the board and the console still say the bench is in use, naming the holder', async function () {
    const log = new ObservationLog();
    holder = await holdPort(sim.description.ports['relays-a']!);
    const board = new FirmataBoard({ name: 'relays-a', port: { path: sim.description.ports['relays-a']! }, outputs: [], log, reconnectWindowMs: 0 });
    const e1 = await board.open().then(
      () => undefined,
      (e: unknown) => e as Error & { benchInUse?: boolean; rigFault?: boolean },
    );
    expect(e1?.benchInUse).to.equal(true);
    expect(e1?.rigFault).to.equal(true);
    expect(e1?.message).to.match(new RegExp(`^relays-a: ${sim.description.ports['relays-a']} is held by pid ${holder.pid} \\(node -e .*\\): the bench is in use`));
    await board.close();
    const piHolder = await holdPort(sim.description.ports.pi!);
    try {
      const src = new SerialLineSource({ name: 'pi', port: { path: sim.description.ports.pi! }, log, decoder: new LineDecoder([]), reconnect: false });
      const e2 = await src.open().then(
        () => undefined,
        (e: unknown) => e as Error & { benchInUse?: boolean },
      );
      expect(e2?.benchInUse).to.equal(true);
      expect(e2?.message).to.match(new RegExp(`^pi: ${sim.description.ports.pi} is held by pid ${piHolder.pid} \\(node -e .*\\): the bench is in use`));
      await src.close().catch(() => undefined);
    } finally {
      const gone = new Promise((r) => piHolder.once('exit', r));
      piHolder.kill('SIGKILL');
      await gone;
    }
  });
});
