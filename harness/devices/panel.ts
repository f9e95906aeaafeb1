/**
 * The control panel as a product: what the Raspberry Pi panel firmware ("panel v3.3") has and
 * prints, independent of whether a bench is real or simulated. Rigs describe their wiring with
 * these names and decoders, and the simulated panel is built to the same description.
 * @module
 */
import type { RegexDecoderSpec } from '../core/decoders.ts';

/** The 17 panel buttons, in the order the firmware's pin table lists them. */
export const BUTTONS = [
  'REACTOR_START',
  'REACTOR_STOP',
  'EMERGENCY',
  'PRESSURE_UP',
  'PRESSURE_DOWN',
  'PUMP_PRIMARY_ON',
  'PUMP_PRIMARY_OFF',
  'PUMP_SECONDARY_ON',
  'PUMP_SECONDARY_OFF',
  'PUMP_TERTIARY_ON',
  'PUMP_TERTIARY_OFF',
  'SAFETY_ROD_UP',
  'SAFETY_ROD_DOWN',
  'SHIM_ROD_UP',
  'SHIM_ROD_DOWN',
  'REGULATING_ROD_UP',
  'REGULATING_ROD_DOWN',
] as const;

/** One of {@link BUTTONS}. */
export type ButtonName = (typeof BUTTONS)[number];

/** True if `s` names a panel button. */
export function isButtonName(s: string): s is ButtonName {
  return (BUTTONS as readonly string[]).includes(s);
}

/**
 * Default wiring: button → BCM pin. Avoids the UART (14/15), I²C (2/3) and SPI0 (7–11) pins the
 * panel also uses (ESP link, display).
 */
export const DEFAULT_GPIO_MAP: Readonly<Record<ButtonName, number>> = Object.freeze({
  REACTOR_START: 4,
  REACTOR_STOP: 5,
  EMERGENCY: 6,
  PRESSURE_UP: 12,
  PRESSURE_DOWN: 13,
  PUMP_PRIMARY_ON: 16,
  PUMP_PRIMARY_OFF: 17,
  PUMP_SECONDARY_ON: 18,
  PUMP_SECONDARY_OFF: 19,
  PUMP_TERTIARY_ON: 20,
  PUMP_TERTIARY_OFF: 21,
  SAFETY_ROD_UP: 22,
  SAFETY_ROD_DOWN: 23,
  SHIM_ROD_UP: 24,
  SHIM_ROD_DOWN: 25,
  REGULATING_ROD_UP: 26,
  REGULATING_ROD_DOWN: 27,
});

/** Capacity the firmware gives its event queue: a put on a full queue is refused (`q_drop`). */
export const PANEL_QUEUE_CAPACITY = 100;

/** The line the firmware prints once its threads run and it takes button presses. */
export const PANEL_READY = /Control panel ready/;

/** Decoders for the panel firmware's free-form log lines (shared by the sim and lab rigs). */
export const PANEL_DECODERS: RegexDecoderSpec[] = [
  { kind: 'queued', pattern: /⚡ Queued: (?<btn>[A-Z_]+)/ },
  { kind: 'queue_full', pattern: /Event queue full(?:, dropping (?<btn>[A-Z_]+))?/ },
  { kind: 'pressure', pattern: /✓ Pressure: (?<bar>\d+(?:\.\d+)?) bar/ },
  { kind: 'not_started', pattern: /Reactor not started!/ },
  { kind: 'processed', pattern: /📊 Processed (?<count>\d+) events/ },
];
