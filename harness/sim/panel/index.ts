/**
 * Simulated Raspberry Pi control-panel firmware ("panel v3.3") and its broken variants.
 * @module
 */
export { PANEL_FAULTS, PANEL_INSTRUMENTATION, type PanelFault, type PanelInstrumentation } from './faults.ts';
export { PanelFirmware, PanelPowerLostError, type PanelFirmwareOptions, type PanelPhase } from './panel-firmware.ts';
export { QUEUE_CAP } from './shared.ts';
export { derivePower } from './state.ts';
