/**
 * The real lab bench, as an example to copy: same buttons, relay channels and power channels as
 * the simulated bench (rigs/sim-bench.ts), so every scenario runs unchanged on both. Only the
 * ports, the ESP's address and the timing limits differ.
 *
 * To adapt it to your bench:
 *
 * 1. Copy this file to `rigs/<your-bench>.ts` (keep the `.example` one as a reference).
 * 2. Replace every `byId` with the names of YOUR adapters. Plug them in one at a time and run
 *      ls -l /dev/serial/by-id/
 *    (or `udevadm info -q property -n /dev/ttyACM0 | grep -E 'ID_SERIAL|ID_VENDOR_ID|ID_MODEL_ID'`).
 *    The by-id name carries the USB serial number, so it survives re-plugging and re-enumeration;
 *    `/dev/ttyACM0` / `/dev/ttyUSB0` do not. Two Arduinos of the same model differ only in the
 *    serial number: label the boards physically with the last digits. Cheap CH340 clones have no
 *    serial number (their by-id names collide): use genuine boards or FTDI/CP2102 adapters, or a
 *    `/dev/serial/by-path/...` name (tied to the USB socket) in `path`.
 * 3. Check the relay modules' input polarity (`activeLow`). Most opto-isolated modules (the blue
 *    "HL-52S"/"SRD-05VDC" boards with a JD-VCC jumper) energise when the input is pulled LOW: active
 *    low. Bare transistor-driver modules usually energise on HIGH. To check: with the board running
 *    StandardFirmata and nothing else connected, all pins are OUTPUT LOW after boot, so an
 *    active-low module has every LED on. (That is also why, on an active-low module, every button
 *    is "pressed" from the board's boot until the harness releases the relays: keep the Pi
 *    unpowered or ignore presses during that window.)
 * 4. Check how each device's supply goes through its power relay (`contact`):
 *      NC — supply wired through COM and NC: the device runs while the relay is released, so a
 *           bench whose relays are all released (the harness's safe state, a crashed harness, an
 *           unplugged Arduino) keeps the devices running; energise to cut power. Recommended.
 *      NO — supply through COM and NO: the device runs only while the relay is energised; a crash
 *           of the harness or of the board powers it off.
 * 5. Measure `bootMs` (power on → first heartbeat on the console) and set `minOffMs` to at least
 *    the time the device's supply capacitors need to discharge (a Pi 4 with its 5 V rail: 500 ms
 *    or more; less and it may not reset at all).
 * 6. Set `limits` from your relays' datasheet (operate/release time) plus the firmware's debounce,
 *    and keep `maxPressesPerSec` well below what the supply of the relay board can switch.
 * 7. Set the ESP's URL to its address on the lab network (a DHCP reservation helps).
 *
 * Pins: relays-a drives the 17 button relays on pins 2-12 and 14-19 (pin 13 is left free:
 * StandardFirmata blinks it at boot), relays-b pin 2 is the Pi's supply, pin 3 the ESP's.
 */
import { defineRig, type ButtonSpec } from '../harness/rig/types.ts';
import { ESP_QUEUE_CAPACITY } from '../harness/devices/esp.ts';
import { BUTTONS, DEFAULT_GPIO_MAP, PANEL_DECODERS, PANEL_QUEUE_CAPACITY, PANEL_READY } from '../harness/devices/panel.ts';

/** relays-a pin for each button, in {@link BUTTONS} order. Must match your wiring harness. */
const RELAY_PINS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19];

// Every button relay's contact is wired across the panel button (between the Pi's GPIO and GND),
// in parallel with the real button: closing it pulls the pulled-up input LOW, as a press does.
// `gpio` is the BCM number the panel firmware reads; change DEFAULT_GPIO_MAP only together with
// the firmware.
const buttons: Record<string, ButtonSpec> = Object.fromEntries(
  BUTTONS.map((name, k) => [name, { board: 'relays-a', pin: RELAY_PINS[k]!, activeLow: true, device: 'pi', gpio: DEFAULT_GPIO_MAP[name] }]),
);

export default defineRig({
  name: 'lab-bench',
  description: 'Lab bench: Raspberry Pi 4 panel + ESP32 DevKit, two Arduino Uno (StandardFirmata 2.5) driving 16-channel and 4-channel relay modules',
  boards: {
    // Arduino Uno R3 (genuine, ATmega16U2 USB: vendor 2341, product 0043) running StandardFirmata.
    'relays-a': {
      port: { byId: 'usb-Arduino__www.arduino.cc__0043_85736323838351F0E1A1-if00', serialNumber: '85736323838351F0E1A1', vendorId: '2341', productId: '0043' },
      baudRate: 57600,
      // A real Uno resets when the port opens (DTR) and blinks for ~2 s before it reports its
      // version: firmata-io's wait for that report must outlast the blink.
      reportVersionTimeoutMs: 3000,
    },
    'relays-b': {
      port: { byId: 'usb-Arduino__www.arduino.cc__0043_7573530323635171E0C2-if00', serialNumber: '7573530323635171E0C2', vendorId: '2341', productId: '0043' },
      baudRate: 57600,
      reportVersionTimeoutMs: 3000,
    },
  },
  devices: {
    // The Pi's serial console (GPIO 14/15, 3.3 V!) through an FTDI FT232R cable (vendor 0403, product 6001).
    pi: {
      port: { byId: 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0', serialNumber: 'A50285BI', vendorId: '0403', productId: '6001' },
      baudRate: 115200,
      decoders: PANEL_DECODERS,
      ready: PANEL_READY,
      queue: { capacity: PANEL_QUEUE_CAPACITY },
    },
    // ESP32 DevKitC: its on-board CP2102 (vendor 10c4, product ea60). Many DevKits share serial
    // number 0001: if yours do, use a by-path name in `path` instead of byId.
    esp: {
      port: { byId: 'usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0', vendorId: '10c4', productId: 'ea60' },
      baudRate: 115200,
      queue: { capacity: ESP_QUEUE_CAPACITY },
      http: { url: 'http://192.168.50.20' },
    },
  },
  buttons,
  // The Pi's UART (GPIO 14 TX) wired to the ESP's RX2: the panel's STATE line every 100 ms. A
  // causality rule between two devices needs a link here.
  links: [{ from: 'pi', to: 'esp', via: 'UART /dev/serial0 → ESP RX2, 115200' }],
  power: {
    // relays-b is a 4-channel module with a transistor driver: HIGH energises (active high).
    // Both supplies go through COM/NC: released = powered.
    pi: { board: 'relays-b', pin: 2, activeLow: false, contact: 'NC', minOffMs: 1000, bootMs: 25_000 },
    esp: { board: 'relays-b', pin: 3, activeLow: false, contact: 'NC', minOffMs: 300, bootMs: 2000 },
  },
  // SRD-05VDC: operate ≤ 10 ms, release ≤ 5 ms, plus the panel's 5 ms debounce and margin.
  limits: { minHoldMs: 40, minGapMs: 40, maxPressesPerSec: 50 },
});
