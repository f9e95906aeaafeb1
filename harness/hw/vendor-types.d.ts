// modbus-serial ships types for its client, not for its CRC helper.
declare module 'modbus-serial/utils/crc16.js' {
  /** CRC-16/MODBUS of `buffer` (send it low byte first). */
  export default function crc16(buffer: Uint8Array): number;
}
