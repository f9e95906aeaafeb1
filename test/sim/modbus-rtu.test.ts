/**
 * Modbus RTU framing (logic only) with the spec's and the relay-board manuals' published frames,
 * and the sim's relay-module slave fed bytes directly (no PTY): what it answers, what it executes,
 * and what it leaves unanswered.
 */
import { expect } from 'chai';
import { crc16, crcOk, decodeRequest, EXCEPTION, interFrameNs, packBits, withCrc, writeCoilsRequest } from '../../harness/sim/modbus/rtu.ts';
import { ModbusRelaySlave } from '../../harness/sim/modbus/slave.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').replace(/(..)(?!$)/g, '$1 ').toUpperCase();
const bytes = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Modbus RTU framing', function () {
  it('CRC-16/MODBUS of the published frames', function () {
    // Read 10 holding registers from unit 1: the frame every Modbus tutorial shows.
    expect(crc16(bytes('01 03 00 00 00 0A'))).to.equal(0xcdc5);
    expect(hex(withCrc(bytes('01 03 00 00 00 0A')))).to.equal('01 03 00 00 00 0A C5 CD');
    // Modbus over Serial Line V1.02 §6.2.2: the CRC of 02 07 is 0x1241, sent 41 12.
    expect(hex(withCrc([0x02, 0x07]))).to.equal('02 07 41 12');
    // The relay-board manuals' frames: relay 1 on, relay 1 off, all 8 on.
    expect(hex(withCrc(bytes('01 05 00 00 FF 00')))).to.equal('01 05 00 00 FF 00 8C 3A');
    expect(hex(withCrc(bytes('01 05 00 00 00 00')))).to.equal('01 05 00 00 00 00 CD CA');
    expect(hex(writeCoilsRequest(1, 0, Array<boolean>(8).fill(true)))).to.equal('01 0F 00 00 00 08 01 FF BE D5');
  });

  it('a frame passes its CRC only when it is intact', function () {
    const f = bytes('01 05 00 00 FF 00 8C 3A');
    expect(crcOk(f)).to.equal(true);
    for (let i = 0; i < f.length; i++) {
      const g = Buffer.from(f);
      g[i]! ^= 0x10;
      expect(crcOk(g), `byte ${i} flipped`).to.equal(false);
    }
    expect(crcOk(bytes('01 05 00'))).to.equal(false);
  });

  it('packs coils LSB first, byte by byte (the spec’s §6.11 example: coils 20-29 → CD 01)', function () {
    const v = [1, 0, 1, 1, 0, 0, 1, 1, 1, 0].map((x) => x === 1);
    expect(hex(packBits(v))).to.equal('CD 01');
  });

  it('decodes the three coil functions and refuses the rest with the right exception', function () {
    expect(decodeRequest(withCrc(bytes('01 01 00 00 00 10')), 16)).to.deep.equal({ fn: 1, address: 0, quantity: 16 });
    expect(decodeRequest(withCrc(bytes('01 05 00 03 FF 00')), 16)).to.deep.equal({ fn: 5, address: 3, value: true });
    expect(decodeRequest(writeCoilsRequest(1, 2, [true, false, true]), 16)).to.deep.equal({ fn: 15, address: 2, values: [true, false, true] });
    const ex = (f: Buffer) => (decodeRequest(f, 16) as { exception?: number }).exception;
    expect(ex(withCrc(bytes('01 03 00 00 00 0A'))), 'read holding registers').to.equal(EXCEPTION.illegalFunction);
    expect(ex(withCrc(bytes('01 05 00 10 FF 00'))), 'coil 16 of 16').to.equal(EXCEPTION.illegalDataAddress);
    expect(ex(withCrc(bytes('01 05 00 01 12 34'))), 'coil value 0x1234').to.equal(EXCEPTION.illegalDataValue);
    expect(ex(withCrc(bytes('01 01 00 08 00 09'))), 'coils 8-16').to.equal(EXCEPTION.illegalDataAddress);
    expect(ex(withCrc(bytes('01 01 00 00 00 00'))), 'read of 0 coils').to.equal(EXCEPTION.illegalDataValue);
    expect(ex(withCrc(bytes('01 0F 00 00 00 09 01 FF'))), 'byte count 1 for 9 coils').to.equal(EXCEPTION.illegalDataValue);
  });

  it('the inter-frame silence is 3.5 characters, fixed at 1.75 ms above 19200 baud', function () {
    expect(Number(interFrameNs(9600)) / 1e6).to.be.closeTo(4.01, 0.01);
    expect(Number(interFrameNs(19200)) / 1e6).to.be.closeTo(2.005, 0.01);
    expect(interFrameNs(38400)).to.equal(1_750_000n);
    expect(interFrameNs(115200)).to.equal(1_750_000n);
  });
});

describe('sim Modbus relay slave (bytes in, frames out)', function () {
  let sent: Buffer[];
  let pins: Array<[number, 0 | 1 | null]>;
  let slave: ModbusRelaySlave;

  beforeEach(function () {
    sent = [];
    pins = [];
    // 115200 baud: a frame and its silence take ~2.5 ms, so each exchange settles within 20 ms.
    slave = new ModbusRelaySlave({ name: 'mb', unitId: 3, baudRate: 115200, coils: 8, turnaroundMs: 0, send: (b) => sent.push(b) });
    slave.powerOn();
    slave.onPinChange((pin, level) => pins.push([pin, level]));
  });
  afterEach(() => slave.powerOff());

  it('executes a write and echoes it; answers a read with the coils', async function () {
    const req = withCrc(bytes('03 05 00 02 FF 00'));
    slave.receive(req);
    await sleep(20);
    expect(sent.map(hex)).to.deep.equal([hex(req)]);
    expect(pins).to.deep.equal([[2, 1]]);
    slave.receive(withCrc(bytes('03 01 00 00 00 08')));
    await sleep(20);
    expect(hex(sent[1]!)).to.equal(hex(withCrc(bytes('03 01 01 04'))));
    slave.receive(writeCoilsRequest(3, 0, Array<boolean>(8).fill(false)));
    await sleep(20);
    expect(hex(sent[2]!)).to.equal(hex(withCrc(bytes('03 0F 00 00 00 08'))));
    expect(pins).to.deep.equal([[2, 1], [2, 0]]);
  });

  it('stays silent on a bad CRC and on another unit; answers an unknown function with exception 01', async function () {
    const bad = withCrc(bytes('03 05 00 02 FF 00'));
    bad[7]! ^= 1;
    slave.receive(bad);
    slave.receive(Buffer.alloc(0));
    await sleep(20);
    slave.receive(withCrc(bytes('04 05 00 02 FF 00')));
    await sleep(20);
    expect(sent).to.deep.equal([]);
    expect(pins).to.deep.equal([]);
    expect(slave.counts).to.include({ crcErrors: 1, otherUnit: 1 });
    slave.receive(withCrc(bytes('03 03 00 00 00 01')));
    await sleep(20);
    expect(sent.map(hex)).to.deep.equal([hex(withCrc([0x03, 0x83, 0x01]))]);
  });

  it('two frames with no silence between them run together and are not executed', async function () {
    slave.receive(Buffer.concat([withCrc(bytes('03 05 00 01 FF 00')), withCrc(bytes('03 05 00 02 FF 00'))]));
    await sleep(20);
    expect(sent).to.deep.equal([]);
    expect(pins).to.deep.equal([]);
    expect(slave.counts.crcErrors).to.equal(1);
  });

  it('frames a request that arrives in pieces, as long as the pieces come within 3.5 characters', async function () {
    const req = withCrc(bytes('03 05 00 04 FF 00'));
    slave.receive(req.subarray(0, 3));
    slave.receive(req.subarray(3));
    await sleep(20);
    expect(pins).to.deep.equal([[4, 1]]);
    // The same request with a 10 ms pause inside (≈ 110 characters at 115200): two broken frames.
    const off = withCrc(bytes('03 05 00 04 00 00'));
    slave.receive(off.subarray(0, 3));
    await sleep(10);
    slave.receive(off.subarray(3));
    await sleep(20);
    expect(pins).to.deep.equal([[4, 1]]);
    expect(slave.counts.crcErrors).to.equal(2);
  });

  it('executes a broadcast write without answering', async function () {
    slave.receive(withCrc(bytes('00 05 00 07 FF 00')));
    await sleep(20);
    expect(sent).to.deep.equal([]);
    expect(pins).to.deep.equal([[7, 1]]);
  });

  it('power off drops every relay (level null); a reset releases them and keeps answering', async function () {
    slave.receive(withCrc(bytes('03 05 00 01 FF 00')));
    await sleep(20);
    slave.reset();
    expect(pins).to.deep.include.members([[1, 0]]);
    expect(slave.coil(1)).to.equal(false);
    slave.powerOff();
    expect(pins.filter(([, l]) => l === null)).to.have.length(8);
  });
});
