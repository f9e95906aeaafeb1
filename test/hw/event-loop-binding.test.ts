/**
 * The harness's serialport binding on a real pseudo-terminal: a write reaches the port when it is
 * made, not when libuv's threadpool gets round to it. A relay command that waits in the pool is a
 * press held for less than the harness thinks (ON and OFF arrive together at the board).
 */
import { expect } from 'chai';
import { SerialPortStream } from '@serialport/stream';
import { eventLoopBinding } from '../../harness/hw/event-loop-binding.ts';
import { PtyPair } from '../../harness/sim/pty.ts';
import { occupyThreadpool } from '../fixtures/threadpool.ts';


describe('event-loop binding on a real PTY', function () {
  this.timeout(30_000);

  it('puts a write on the port at once, even while the threadpool is busy', async function () {
    const pty = new PtyPair();
    const port = new SerialPortStream({ binding: eventLoopBinding, path: pty.path, baudRate: 57600, autoOpen: false });
    try {
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      const busy = occupyThreadpool(600);
      const busySince = performance.now();
      const arrived = new Promise<number>((resolve) => pty.once('data', () => resolve(performance.now())));
      const t0 = performance.now();
      port.write(Buffer.from([0x90, 0x04, 0x00]));
      const dt = (await arrived) - t0;
      const poolBusyFor = (await Promise.all(busy).then(() => performance.now())) - busySince;
      // Through the threadpool the bytes would have waited for it (poolBusyFor, about 0.6 s); on the
      // event loop they arrive within the loop's own latency.
      expect(poolBusyFor, 'the threadpool was not busy: the test shows nothing').to.be.above(300);
      expect(dt, `the write reached the port ${dt.toFixed(1)} ms after it was made`).to.be.below(poolBusyFor / 2);
    } finally {
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
      pty.close();
    }
  });
});
