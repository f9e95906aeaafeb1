import fs from 'node:fs';
import path from 'node:path';
import { BenchInUse } from '../core/errors.ts';
import type { PortSpec } from '../rig/types.ts';
import { describePortSpec, resolvePort } from './port-finder.ts';

/** A process that holds a serial port. */
export interface PortHolder {
  pid: number;
  /** Its command line, shortened (`node bin/hil.js run …`), when readable. */
  command?: string;
}

/** glibc's major/minor of a `dev_t` as Node's stat gives it. */
function majorMinor(dev: number): [number, number] {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return [major, minor];
}

function commandOf(pid: number): string | undefined {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    if (argv.length === 0) return undefined;
    // One line whatever the arguments hold (a script given with -e has newlines).
    const text = argv.map((a, i) => (i === 0 ? path.basename(a) : a)).join(' ').replace(/\s+/g, ' ');
    return text.length > 120 ? `${text.slice(0, 119)}…` : text;
  } catch {
    return undefined;
  }
}

/**
 * The process holding the exclusive lock serialport takes on a port (`flock`; a second open then
 * fails with "Cannot lock port"), from /proc/locks: undefined when the port is not locked, or on a
 * system without /proc. Opens nothing (opening a real Arduino's port resets it).
 */
export function portLockHolder(portPath: string): PortHolder | undefined {
  let st: fs.Stats;
  let locks: string;
  try {
    st = fs.statSync(portPath);
    locks = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  const [major, minor] = majorMinor(st.dev);
  // `1: FLOCK  ADVISORY  WRITE 4242 00:19:5 0 EOF` (device numbers in hex, the inode in decimal).
  for (const line of locks.split('\n')) {
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m || parseInt(m[2]!, 16) !== major || parseInt(m[3]!, 16) !== minor || Number(m[4]) !== st.ino) continue;
    const pid = Number(m[1]);
    // A lock inherited across fork shows -1 or the pid that took it; name it only when it is real.
    if (pid > 0) return { pid, ...(commandOf(pid) ? { command: commandOf(pid)! } : {}) };
    return { pid: -1 };
  }
  return undefined;
}

/** `pid 4242 (node bin/hil.js run)` or `another process`. */
export function describeHolder(h: PortHolder | undefined): string {
  if (!h || h.pid <= 0) return 'another process';
  return `pid ${h.pid}${h.command ? ` (${h.command})` : ''}`;
}

/** serialport's open failed because another process holds the port's lock. */
export function isLockFailure(error: unknown): boolean {
  return error instanceof Error && /Cannot lock port/.test(error.message);
}

/** The one way a held port is reported: which part, which port, held by whom; nothing was run. */
export function benchInUse(part: string, portPath: string, spec: string, cause?: unknown): BenchInUse {
  return new BenchInUse(
    `${part}: ${portPath}${spec === portPath ? '' : ` (${spec})`} is held by ${describeHolder(portLockHolder(portPath))}: the bench is in use (another harness, or a serial monitor); nothing was run`,
    part,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Before anything is opened or recorded: the first of these ports another process holds, as a
 * {@link BenchInUse}, or undefined. A port that cannot be resolved now is left for its open to
 * report. Nothing is opened.
 */
export async function firstHeldPort(ports: Iterable<[part: string, spec: PortSpec]>): Promise<BenchInUse | undefined> {
  for (const [part, spec] of ports) {
    if (spec.sim) continue;
    let resolved: string;
    try {
      resolved = (await resolvePort(part, spec)).path;
    } catch {
      continue;
    }
    if (portLockHolder(resolved)) return benchInUse(part, resolved, describePortSpec(spec));
  }
  return undefined;
}
