/**
 * Modbus RTU framing as a relay module's slave sees it (Modbus over Serial Line V1.02 and the
 * Application Protocol V1.1b3): CRC-16/MODBUS, request decoding and response encoding for the
 * coil functions a relay board implements. Pure logic, no timers and no transport.
 *
 * Written apart from the harness's Modbus master (which uses the modbus-serial package), so the
 * two sides of a test are two implementations of the spec, not one checked against itself.
 * @module
 */

/** Function codes a relay board answers. */
export const FN = {
  readCoils: 0x01,
  writeSingleCoil: 0x05,
  writeMultipleCoils: 0x0f,
} as const;

/** Exception codes (Application Protocol §7). */
export const EXCEPTION = {
  illegalFunction: 0x01,
  illegalDataAddress: 0x02,
  illegalDataValue: 0x03,
  slaveDeviceFailure: 0x04,
} as const;

/** Limits of the spec: quantity of coils per read (§6.1) and per write (§6.11). */
export const MAX_READ_COILS = 2000;
export const MAX_WRITE_COILS = 1968;

/** The broadcast address: every slave executes a write, none answers. */
export const BROADCAST = 0;

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of `bytes`. Sent low byte first. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** `pdu` (unit id, function code, data) with its CRC appended, low byte first. */
export function withCrc(pdu: Uint8Array | readonly number[]): Buffer {
  const out = Buffer.alloc(pdu.length + 2);
  out.set(pdu);
  out.writeUInt16LE(crc16(out.subarray(0, pdu.length)), pdu.length);
  return out;
}

/** Whether a whole frame's last two bytes are the CRC of the rest. */
export function crcOk(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return b.readUInt16LE(frame.length - 2) === crc16(frame.subarray(0, frame.length - 2));
}

/**
 * Silence that ends a frame, ns: 3.5 character times (11 bits each: start, 8 data, parity or a
 * second stop, stop), or the fixed 1.75 ms the spec prescribes above 19200 baud (§2.5.1.1).
 */
export function interFrameNs(baudRate: number): bigint {
  if (!(baudRate > 0)) throw new RangeError(`baudRate must be a positive number, got ${String(baudRate)}`);
  if (baudRate > 19200) return 1_750_000n;
  return BigInt(Math.round((3.5 * 11 * 1e9) / baudRate));
}

/** One decoded request, or why it gets an exception (the slave answers those). */
export type Request =
  | { fn: typeof FN.readCoils; address: number; quantity: number }
  | { fn: typeof FN.writeSingleCoil; address: number; value: boolean }
  | { fn: typeof FN.writeMultipleCoils; address: number; values: boolean[] }
  | { fn: number; exception: number; why: string };

/**
 * Decode the PDU of a frame that passed its CRC (`frame` without unit id check; CRC included).
 * Anything the board does not implement or that breaks the spec's ranges becomes an exception,
 * checked in the order the spec's state diagrams give: function, quantity/value, address.
 */
export function decodeRequest(frame: Uint8Array, coils: number): Request {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const fn = b[1]!;
  const data = b.subarray(2, b.length - 2);
  const bad = (exception: number, why: string): Request => ({ fn, exception, why });
  switch (fn) {
    case FN.readCoils: {
      if (data.length !== 4) return bad(EXCEPTION.illegalDataValue, `read coils with ${data.length} data bytes (4 expected)`);
      const address = data.readUInt16BE(0);
      const quantity = data.readUInt16BE(2);
      if (quantity < 1 || quantity > MAX_READ_COILS) return bad(EXCEPTION.illegalDataValue, `read of ${quantity} coils (1-${MAX_READ_COILS})`);
      if (address + quantity > coils) return bad(EXCEPTION.illegalDataAddress, `coils ${address}-${address + quantity - 1} (the board has 0-${coils - 1})`);
      return { fn, address, quantity };
    }
    case FN.writeSingleCoil: {
      if (data.length !== 4) return bad(EXCEPTION.illegalDataValue, `write coil with ${data.length} data bytes (4 expected)`);
      const address = data.readUInt16BE(0);
      const raw = data.readUInt16BE(2);
      if (raw !== 0xff00 && raw !== 0x0000) return bad(EXCEPTION.illegalDataValue, `coil value 0x${raw.toString(16).padStart(4, '0')} (0xFF00 or 0x0000)`);
      if (address >= coils) return bad(EXCEPTION.illegalDataAddress, `coil ${address} (the board has 0-${coils - 1})`);
      return { fn, address, value: raw === 0xff00 };
    }
    case FN.writeMultipleCoils: {
      if (data.length < 5) return bad(EXCEPTION.illegalDataValue, `write coils with ${data.length} data bytes (5 or more expected)`);
      const address = data.readUInt16BE(0);
      const quantity = data.readUInt16BE(2);
      const count = data[4]!;
      if (quantity < 1 || quantity > MAX_WRITE_COILS || count !== Math.ceil(quantity / 8) || data.length !== 5 + count) {
        return bad(EXCEPTION.illegalDataValue, `write of ${quantity} coils with byte count ${count} and ${data.length - 5} data bytes`);
      }
      if (address + quantity > coils) return bad(EXCEPTION.illegalDataAddress, `coils ${address}-${address + quantity - 1} (the board has 0-${coils - 1})`);
      const values = Array.from({ length: quantity }, (_x, i) => ((data[5 + (i >> 3)]! >> (i & 7)) & 1) === 1);
      return { fn, address, values };
    }
    default:
      return bad(EXCEPTION.illegalFunction, `function 0x${fn.toString(16).padStart(2, '0')}`);
  }
}

/** Coil states packed as the spec packs them: coil `i` in bit `i % 8` of byte `i / 8`. */
export function packBits(values: readonly boolean[]): Buffer {
  const out = Buffer.alloc(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v) out[i >> 3]! |= 1 << (i & 7);
  });
  return out;
}

/** An exception response: the function code with its top bit set, then the exception code. */
export function exceptionResponse(unit: number, fn: number, exception: number): Buffer {
  return withCrc([unit, (fn | 0x80) & 0xff, exception]);
}

/** The request frame that writes `values` to the coils from `address` on (function 15). */
export function writeCoilsRequest(unit: number, address: number, values: readonly boolean[]): Buffer {
  const bits = packBits(values);
  return withCrc([unit, FN.writeMultipleCoils, address >> 8, address & 0xff, values.length >> 8, values.length & 0xff, bits.length, ...bits]);
}
