/**
 * The simulated bench: the default rig everywhere (npm start, the tests, CI). Same buttons,
 * relay channels and power channels as a real bench (see lab-bench.example.ts); the ports are
 * pseudo-terminals the simulator creates, filled in when the harness starts it.
 */
import { defineRig, type ButtonSpec } from '../harness/rig/types.ts';
import { ESP_QUEUE_CAPACITY } from '../harness/devices/esp.ts';
import { BUTTONS, DEFAULT_GPIO_MAP, PANEL_DECODERS, PANEL_QUEUE_CAPACITY, PANEL_READY } from '../harness/devices/panel.ts';

/** relays-a pins 2–12 and 14–19 (13 is left free: StandardFirmata blinks it at boot). */
const RELAY_PINS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19];

const buttons: Record<string, ButtonSpec> = Object.fromEntries(
  BUTTONS.map((name, k) => [name, { board: 'relays-a', pin: RELAY_PINS[k]!, activeLow: true, device: 'pi', gpio: DEFAULT_GPIO_MAP[name] }]),
);

export default defineRig({
  name: 'sim-bench',
  description: 'Simulated bench: Pi panel v3.3 + ESP32 on PTYs, two StandardFirmata relay boards',
  simulated: true,
  boards: {
    'relays-a': { port: { sim: 'relays-a' } },
    'relays-b': { port: { sim: 'relays-b' } },
  },
  devices: {
    pi: { port: { sim: 'pi' }, decoders: PANEL_DECODERS, ready: PANEL_READY, queue: { capacity: PANEL_QUEUE_CAPACITY } },
    esp: { port: { sim: 'esp' }, queue: { capacity: ESP_QUEUE_CAPACITY }, http: { sim: 'esp' } },
  },
  buttons,
  power: {
    pi: { board: 'relays-b', pin: 2, activeLow: false, contact: 'NC', minOffMs: 500, bootMs: 4000 },
    esp: { board: 'relays-b', pin: 3, activeLow: false, contact: 'NC', minOffMs: 300, bootMs: 2000 },
  },
  limits: { minHoldMs: 30, minGapMs: 30, maxPressesPerSec: 400 },
  invariants: {
    // A panel state change reaches the ESP over the UART (STATE every 100 ms) well within this.
    causality: [{ from: 'pi', to: 'esp', withinMs: 500 }],
  },
});
