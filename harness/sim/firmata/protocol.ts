/**
 * Firmata protocol constants and the Arduino Uno pin table, as StandardFirmata 2.5.x sees them.
 * Byte values are those of the firmware's FirmataConstants.h; the pin predicates mirror the
 * ATmega328P section of Boards.h (`TOTAL_PINS 20`, `IS_PIN_DIGITAL(p) ((p) >= 2 && (p) <= 19)`, …).
 */

export const CMD = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  START_SYSEX: 0xf0,
  END_SYSEX: 0xf7,
} as const;

export const SYSEX = {
  SERIAL_MESSAGE: 0x60,
  EXTENDED_ANALOG: 0x6f,
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  SERVO_CONFIG: 0x70,
  STRING_DATA: 0x71,
  I2C_REQUEST: 0x76,
  I2C_CONFIG: 0x78,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

/** Firmata pin modes (the numbers on the wire). */
export const PIN_MODE = {
  INPUT: 0x00,
  OUTPUT: 0x01,
  ANALOG: 0x02,
  PWM: 0x03,
  SERVO: 0x04,
  SHIFT: 0x05,
  I2C: 0x06,
  ONEWIRE: 0x07,
  STEPPER: 0x08,
  ENCODER: 0x09,
  SERIAL: 0x0a,
  PULLUP: 0x0b,
  IGNORE: 0x7f,
} as const;

/**
 * What a pin is doing, as reported by the sim: a Firmata mode name, or `OFF` while the board is
 * unpowered. `UNKNOWN` only appears if the firmware's mode table holds a number with no name.
 */
export type PinModeName = keyof typeof PIN_MODE | 'OFF' | 'UNKNOWN';

const MODE_NAMES = new Map<number, PinModeName>(
  Object.entries(PIN_MODE).map(([k, v]) => [v, k as keyof typeof PIN_MODE]),
);

export function modeName(mode: number): PinModeName {
  return MODE_NAMES.get(mode) ?? 'UNKNOWN';
}

/** Arduino Uno (ATmega328P, 6 analog inputs) as described by Firmata's Boards.h. */
export const UNO = {
  TOTAL_PINS: 20,
  TOTAL_PORTS: 3,
  TOTAL_ANALOG_PINS: 6,
  VERSION_BLINK_PIN: 13,
  /** DEFAULT_PWM_RESOLUTION */
  PWM_RESOLUTION: 8,
  isDigital: (p: number): boolean => p >= 2 && p <= 19,
  isAnalog: (p: number): boolean => p >= 14 && p < 14 + 6,
  // digitalPinHasPWM() on the 328P: timers 0, 1 and 2.
  isPwm: (p: number): boolean => p === 3 || p === 5 || p === 6 || p === 9 || p === 10 || p === 11,
  isI2c: (p: number): boolean => p === 18 || p === 19,
  pinToAnalog: (p: number): number => p - 14,
} as const;

/** StandardFirmata 2.5.x `MINIMUM_SAMPLING_INTERVAL` (it was 10 before 2.5). */
export const MINIMUM_SAMPLING_INTERVAL_MS = 1;
/** StandardFirmata's initial `samplingInterval`. */
export const DEFAULT_SAMPLING_INTERVAL_MS = 19;
/** Firmata's `MAX_DATA_BYTES`: the parser's sysex buffer. */
export const MAX_DATA_BYTES = 64;

/** Firmata's 7-bit encoding of an 8-bit byte stream: each byte becomes LSB7, MSB1. */
export function encode7(bytes: Iterable<number>): number[] {
  const out: number[] = [];
  for (const b of bytes) out.push(b & 0x7f, (b >> 7) & 0x7f);
  return out;
}
