export { EspFirmware, DEFAULT_WDT_TIMEOUT_MS, type EspFirmwareOptions, type EspPowerState } from './esp-firmware.ts';
export { ESP_FAULTS, type EspFault } from './faults.ts';
export { DB_RING_CAP, FW_VERSION } from './firmware.ts';
