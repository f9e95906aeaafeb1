/**
 * The simulated bench with a Modbus RTU relay module beside the Arduinos: four buttons and the
 * Pi's power on a 16-channel module (unit 1, 9600 baud, coils 0-based), the other buttons on
 * StandardFirmata as in sim-bench.ts. Shows that a rig can mix relay board kinds and that the
 * scenarios run unchanged on a Modbus coil:
 *
 *   npx hil run --rig rigs/sim-modbus.ts --grep 'smoke|PRESSURE'
 *
 * The limits are the slower board's: at 9600 baud the module acknowledges a command in about
 * 24 ms, one at a time, so presses are kept to 15 a second over all channels.
 */
import { defineRig, type ButtonSpec } from '../harness/rig/types.ts';
import { ESP_QUEUE_CAPACITY } from '../harness/devices/esp.ts';
import { BUTTONS, DEFAULT_GPIO_MAP, PANEL_DECODERS, PANEL_QUEUE_CAPACITY, PANEL_READY } from '../harness/devices/panel.ts';

/** The buttons on the Modbus module, by coil. */
const ON_MODBUS = ['PRESSURE_UP', 'PRESSURE_DOWN', 'REACTOR_START', 'REACTOR_STOP'] as const;
/** relays-a pins for the rest (13 is left free: StandardFirmata blinks it at boot). */
const RELAY_PINS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19];

const buttons: Record<string, ButtonSpec> = {};
ON_MODBUS.forEach((name, coil) => (buttons[name] = { board: 'relays-mb', pin: coil, activeLow: false, device: 'pi', gpio: DEFAULT_GPIO_MAP[name] }));
BUTTONS.filter((b) => !(ON_MODBUS as readonly string[]).includes(b)).forEach(
  (name, k) => (buttons[name] = { board: 'relays-a', pin: RELAY_PINS[k]!, activeLow: true, device: 'pi', gpio: DEFAULT_GPIO_MAP[name] }),
);

export default defineRig({
  name: 'sim-modbus',
  description: 'Simulated bench: Pi panel v3.3 + ESP32 on PTYs; a Modbus RTU relay module (4 buttons, the Pi\'s power) beside two StandardFirmata boards',
  simulated: true,
  boards: {
    'relays-a': { port: { sim: 'relays-a' } },
    'relays-b': { port: { sim: 'relays-b' } },
    'relays-mb': { kind: 'modbus-rtu', port: { sim: 'relays-mb' }, unitId: 1, baudRate: 9600, coils: 16 },
  },
  devices: {
    pi: { port: { sim: 'pi' }, decoders: PANEL_DECODERS, ready: PANEL_READY, queue: { capacity: PANEL_QUEUE_CAPACITY } },
    esp: { port: { sim: 'esp' }, queue: { capacity: ESP_QUEUE_CAPACITY }, http: { sim: 'esp' } },
  },
  buttons,
  power: {
    pi: { board: 'relays-mb', pin: 7, activeLow: false, contact: 'NC', minOffMs: 500, bootMs: 4000 },
    esp: { board: 'relays-b', pin: 3, activeLow: false, contact: 'NC', minOffMs: 300, bootMs: 2000 },
  },
  limits: { minHoldMs: 40, minGapMs: 40, maxPressesPerSec: 15 },
  invariants: {
    causality: [{ from: 'pi', to: 'esp', withinMs: 500 }],
  },
});
