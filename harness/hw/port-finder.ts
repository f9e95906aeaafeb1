import fs from 'node:fs/promises';
import path from 'node:path';
import type { SerialPort } from 'serialport';
import { RigFault } from '../core/errors.ts';
import type { PortSpec } from '../rig/types.ts';

export type { PortSpec } from '../rig/types.ts';

/** What `SerialPort.list()` reports for a port. */
export type PortInfo = Awaited<ReturnType<typeof SerialPort.list>>[number];

export interface ResolvedPort {
  /** The device path to open. */
  path: string;
  /** How it was found. */
  foundBy: 'by-id' | 'serial-number' | 'path';
  /** Notes for doctor output (e.g. "SerialPort.list() unavailable (no udevadm); matched by-id names"). */
  note?: string;
}

export interface ResolveOptions {
  /** Lister (default: serialport's `SerialPort.list`). May reject: then by-id names are used. */
  list?: () => Promise<PortInfo[]>;
  /** Where stable links live. Default `/dev/serial/by-id`. */
  byIdDir?: string;
  /** Check that a plain path exists before opening. Default true; off for non-file bindings (the mock). */
  verifyPath?: boolean;
}

export function describePortSpec(spec: PortSpec): string {
  if (spec.sim) return `sim ${spec.sim}`;
  if (spec.byId) return `by-id ${spec.byId}`;
  if (spec.serialNumber) return `serial number ${spec.serialNumber}`;
  return spec.path ?? '(no port given)';
}

async function byIdEntries(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Find the device path for a port spec, or throw a RigFault that says what is present instead. */
export async function resolvePort(device: string, spec: PortSpec, options: ResolveOptions = {}): Promise<ResolvedPort> {
  const dir = options.byIdDir ?? '/dev/serial/by-id';
  const present = async () => {
    const names = await byIdEntries(dir);
    return names.length > 0 ? `present in ${dir}: ${names.join(', ')}` : `${dir} is empty or missing (no USB serial devices, or no udev)`;
  };
  if (spec.byId) {
    const link = spec.byId.includes('/') ? spec.byId : path.join(dir, spec.byId);
    try {
      return { path: await fs.realpath(link), foundBy: 'by-id' };
    } catch {
      throw new RigFault(`${device}: serial port ${link} not found. Is the device plugged in and powered? ${await present()}`, device);
    }
  }
  if (spec.serialNumber) {
    let note: string | undefined;
    if (options.list) {
      try {
        const ports = await options.list();
        const hit = ports.find(
          (p) =>
            p.serialNumber === spec.serialNumber &&
            (!spec.vendorId || p.vendorId?.toLowerCase() === spec.vendorId.toLowerCase()) &&
            (!spec.productId || p.productId?.toLowerCase() === spec.productId.toLowerCase()),
        );
        if (hit) return { path: hit.path, foundBy: 'serial-number' };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        note = `SerialPort.list() unavailable (${code === 'ENOENT' ? 'no udevadm on this host' : String(error)}); matched ${dir} names`;
      }
    }
    // Without udev (or when list() did not know it), by-id names carry the serial number.
    const names = await byIdEntries(dir);
    const hit = names.find((n) => n.includes(spec.serialNumber!));
    if (hit) return { path: await fs.realpath(path.join(dir, hit)), foundBy: 'serial-number', ...(note ? { note } : {}) };
    throw new RigFault(`${device}: no serial port with serial number ${spec.serialNumber}. ${await present()}`, device);
  }
  if (spec.sim && !spec.path) {
    throw new RigFault(`${device}: port is a simulated-bench port (sim: ${spec.sim}); start the rig through the harness so the sim fills in its path`, device);
  }
  if (spec.path) {
    if (options.verifyPath === false || (await exists(spec.path))) return { path: spec.path, foundBy: 'path' };
    throw new RigFault(`${device}: serial port ${spec.path} does not exist. ${await present()}`, device);
  }
  throw new RigFault(`${device}: the rig gives no port (expected one of byId, serialNumber, path)`, device);
}
