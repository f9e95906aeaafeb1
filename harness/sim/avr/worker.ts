/**
 * Worker thread: an ATmega328P at 16 MHz (avr8js) running a flash image, paced to the host
 * clock. See {@link AvrFirmataBoard} for the contract; this file is only the machine and its loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  AVRADC,
  AVRClock,
  AVRIOPort,
  AVRTimer,
  AVRUSART,
  CPU,
  adcConfig,
  avrInstruction,
  clockConfig,
  portBConfig,
  portCConfig,
  portDConfig,
  timer0Config,
  timer1Config,
  timer2Config,
  usart0Config,
} from 'avr8js';
import { F_CPU, PIN_COUNT, STAT, STAT_SLOTS, portOf, type HostMessage, type PinChangeTuple, type WorkerData, type WorkerMessage } from './shared.ts';

const data = workerData as WorkerData;
const port = parentPort!;
const stats = new Float64Array(data.stats, 0, STAT_SLOTS);
const pinMem = new Uint8Array(data.pins);
const wake = new Int32Array(data.wake);
const NS_PER_CYCLE = 1e9 / F_CPU;
const STATE_INPUT = 2;
const hr = () => process.hrtime.bigint();

/** One powered-up chip. A reset builds a new one: every register back to its reset value. */
class Machine {
  readonly cpu = new CPU(data.program);
  readonly usart = new AVRUSART(this.cpu, usart0Config, F_CPU);
  readonly ports = { B: new AVRIOPort(this.cpu, portBConfig), C: new AVRIOPort(this.cpu, portCConfig), D: new AVRIOPort(this.cpu, portDConfig) };

  constructor() {
    new AVRTimer(this.cpu, timer0Config); // millis()/micros()/delay()
    new AVRTimer(this.cpu, timer1Config);
    new AVRTimer(this.cpu, timer2Config);
    new AVRClock(this.cpu, F_CPU, clockConfig);
    // analogRead() busy-waits on ADSC: without the ADC an analog report would hang the firmware.
    new AVRADC(this.cpu, adcConfig);
  }
}

let m: Machine;
let boot = 0;
let simBaseNs = 0; // simulated ns of earlier boots
const external: Array<0 | 1 | null> = new Array<0 | 1 | null>(PIN_COUNT).fill(null);
let rxQueue: number[] = [];
let txBuf: number[] = [];
let pinChanges: PinChangeTuple[] = [];
// Pacing: simulated cycle C is due at host time originNs + C·62.5 ns (origin moves on slip/reset).
let originNs = 0n;

function pinsOfPort(letter: 'B' | 'C' | 'D'): number[] {
  const out: number[] = [];
  for (let pin = 0; pin < PIN_COUNT; pin++) if (portOf(pin).port === letter) out.push(pin);
  return out;
}

/** Line level the firmware reads on an input: what drives it from outside, else its pull-up. */
function applyInputLevel(pin: number): void {
  const { port: letter, bit } = portOf(pin);
  const state = pinMem[pin]!;
  let level: 0 | 1;
  if (state === 0 || state === 1) level = state;
  else level = external[pin] ?? (state === 3 ? 1 : 0);
  pinMem[PIN_COUNT + pin] = level;
  m.ports[letter].setPin(bit, level === 1);
}

function recordState(pin: number, state: number): void {
  if (pinMem[pin] === state) return;
  pinMem[pin] = state;
  pinChanges.push([pin, state, m.cpu.cycles * NS_PER_CYCLE, hr()]);
  applyInputLevel(pin);
}

function build(): void {
  m = new Machine();
  m.usart.onByteTransmit = (b) => txBuf.push(b);
  // Host bytes enter at the firmware's baud rate: the next one starts when the last is received.
  m.usart.onRxComplete = () => {
    rxDone(1);
    feed();
  };
  for (const letter of ['B', 'C', 'D'] as const) {
    const p = m.ports[letter];
    const pins = pinsOfPort(letter);
    const ddrAddr = p.portConfig.DDR;
    p.addListener((value) => {
      const ddr = m.cpu.data[ddrAddr]!;
      for (const pin of pins) {
        const mask = 1 << portOf(pin).bit;
        // For inputs, writeGpio passes the PORT bit: the pull-up enable.
        recordState(pin, ddr & mask ? (value & mask ? 1 : 0) : value & mask ? 3 : 2);
      }
    });
  }
  // Reset tri-states every pin (DDR = PORT = 0).
  for (let pin = 0; pin < PIN_COUNT; pin++) {
    if (pinMem[pin] !== STATE_INPUT) recordState(pin, STATE_INPUT);
    else applyInputLevel(pin);
  }
  rxQueue = [];
  boot++;
  originNs = hr();
  stats[STAT.BOOTS] = boot;
}

function feed(): void {
  if (rxQueue.length === 0 || m.usart.rxBusy) return;
  // Bytes sent while the firmware's receiver is off are lost, as on the wire.
  if (!m.usart.rxEnable) {
    rxDone(rxQueue.length);
    rxQueue = [];
    return;
  }
  m.usart.writeByte(rxQueue.shift()!);
}

function rxDone(n: number): void {
  stats[STAT.RX_DONE] = stats[STAT.RX_DONE]! + n;
  stats[STAT.RX_DONE_SIM_NS] = simBaseNs + m.cpu.cycles * NS_PER_CYCLE;
}

function flush(): void {
  if (pinChanges.length === 0 && txBuf.length === 0) return;
  // One message per slice, pins and output together. As two messages, the host runs whatever a
  // pin change wakes in between: it looked for the bytes the firmware sent just before that
  // change (its version report, before its boot drives the pins) and found them not there yet.
  const tx = txBuf.length > 0 ? Uint8Array.from(txBuf) : undefined;
  const msg: WorkerMessage = { t: 'out', boot, changes: pinChanges, tx, hostNs: hr() };
  pinChanges = [];
  txBuf = [];
  port.postMessage(msg, tx ? [tx.buffer] : []);
}

function post(msg: WorkerMessage): void {
  port.postMessage(msg);
}

port.on('message', (msg: HostMessage) => {
  switch (msg.t) {
    case 'rx':
      for (const b of msg.bytes) rxQueue.push(b);
      feed();
      break;
    case 'input':
      external[msg.pin] = msg.level;
      applyInputLevel(msg.pin);
      break;
    case 'reset':
      rxDone(rxQueue.length + (m.usart.rxBusy ? 1 : 0)); // in flight: lost
      simBaseNs += m.cpu.cycles * NS_PER_CYCLE;
      flush();
      build();
      flush();
      post({ t: 'boot', boot, hostNs: originNs });
      break;
  }
});

const leadCycles = data.leadNs / NS_PER_CYCLE;
const maxLagCycles = data.maxLagNs / NS_PER_CYCLE;

/** Run up to one lead ahead of the host clock, publish, sleep off the lead, yield for messages. */
function slice(): void {
  const { cpu } = m;
  const t0 = hr();
  const dueCycles = Number(t0 - originNs) / NS_PER_CYCLE;
  if (dueCycles - cpu.cycles > maxLagCycles) {
    // Too far behind (host busy): give the time up rather than spin to catch up.
    const slip = dueCycles - cpu.cycles;
    stats[STAT.SLIP_NS] = stats[STAT.SLIP_NS]! + slip * NS_PER_CYCLE;
    originNs += BigInt(Math.round(slip * NS_PER_CYCLE));
  }
  const target = Number(t0 - originNs) / NS_PER_CYCLE + leadCycles;
  while (cpu.cycles < target) {
    avrInstruction(cpu);
    cpu.tick();
  }
  const t1 = hr();
  stats[STAT.BUSY_NS] = stats[STAT.BUSY_NS]! + Number(t1 - t0);
  stats[STAT.SIM_NS] = simBaseNs + cpu.cycles * NS_PER_CYCLE;
  stats[STAT.UPDATED_NS] = Number(t1);
  stats[STAT.SLICES] = stats[STAT.SLICES]! + 1;
  flush();
  const aheadNs = cpu.cycles * NS_PER_CYCLE - Number(hr() - originNs);
  // Sleep without spinning; the main thread notifies `wake` when it posts, so host bytes do not
  // wait out the lead.
  if (aheadNs > 20_000) Atomics.wait(wake, 0, 0, aheadNs / 1e6);
  setImmediate(slice);
}

build();
post({ t: 'boot', boot, hostNs: originNs });
slice();
