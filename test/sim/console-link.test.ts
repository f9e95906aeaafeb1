import { expect } from 'chai';
import { ConsoleLink, type ConsoleLinkKind } from '../../harness/sim/console-link.ts';

/** Print `lines` through a link at once and collect when each byte arrives (ms after printing). */
async function deliver(kind: ConsoleLinkKind, lines: string[], waitMs = 60): Promise<Array<{ ms: number; text: string; sync: boolean }>> {
  let sync = true;
  const got: Array<{ ms: number; text: string; sync: boolean }> = [];
  const t0 = process.hrtime.bigint();
  const link = new ConsoleLink({ kind, deliver: (b) => got.push({ ms: Number(process.hrtime.bigint() - t0) / 1e6, text: b.toString(), sync }) });
  link.write(Buffer.from(lines.join('')));
  sync = false;
  await new Promise((r) => setTimeout(r, waitMs));
  link.close();
  return got;
}

describe('sim console links', function () {
  const line = 'HIL 1 123456 hb thread=irq depth=0\r\n'; // 37 bytes: 3.2 ms at 115200 baud

  it('direct: the bytes as printed, at once', async function () {
    const got = await deliver('direct', [line, line]);
    expect(got.map((g) => g.text)).to.deep.equal([line + line]);
    expect(got[0]!.sync, 'delivered within the write').to.equal(true);
  });

  it('uart: a line arrives when its last byte has, lines one after another at 86.8 µs a byte', async function () {
    const got = await deliver('uart', [line, line, line]);
    expect(got.map((g) => g.text)).to.deep.equal([line, line, line]);
    expect(got.some((g) => g.sync)).to.equal(false);
    // Never before its bytes can have crossed (timers may be late, never early).
    for (let k = 0; k < 3; k++) expect(got[k]!.ms, `line ${k + 1}`).to.be.at.least(((k + 1) * line.length * 10) / 115.2 / 1000 - 0.01);
  });

  it('usb-ftdi: chunks of at most 62 bytes, sent when a packet fills or the 16 ms latency timer expires', async function () {
    const got = await deliver('usb-ftdi', [line, line, line], 150);
    expect(got.map((g) => g.text).join('')).to.equal(line + line + line);
    for (const g of got) expect(g.text.length).to.be.at.most(62);
    // 111 bytes: more than one packet, none before its bytes can have crossed the UART.
    expect(got.length).to.be.at.least(2);
    let bytes = 0;
    for (const g of got) {
      bytes += g.text.length;
      expect(g.ms, `${bytes} bytes`).to.be.at.least((bytes * 10) / 115.2 - 0.01);
    }
  });
});
