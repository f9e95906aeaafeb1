/**
 * A bench has one user at a time: a person at the bench and the nightly job must never drive the
 * same relays at once. Opening a real rig takes an exclusive lock file for it, created atomically
 * (O_EXCL), holding who took it. A lock whose process is gone is taken over (and said so); a live
 * one is refused with a message naming its holder and since when.
 *
 * Where: `<OS temp dir>/hil-bench-locks/<rig name>.lock`. Per rig name, because the name is the
 * bench (two checkouts of the harness, a person's and the nightly job's, have their rig files in
 * different places but drive the same relays); in the temp dir, because it is one per machine and
 * shared by every user (`$XDG_RUNTIME_DIR` is per user: a person and a CI user would not see each
 * other's locks), and because it empties at boot, when no holder can have survived.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchInUse } from '../core/errors.ts';
import { processAlive } from '../report/run-status.ts';

/** Who holds a bench: what the lock file says. */
export interface LockHolder {
  host: string;
  pid: number;
  user: string;
  /** Its command line, shortened. */
  command: string;
  /** When it took the lock (ISO time). */
  started: string;
}

/** A lock this process holds. */
export interface BenchLock {
  file: string;
  holder: LockHolder;
  /** The holder whose process was gone when this lock was taken over from it. */
  tookOver?: LockHolder;
  /** Remove the lock file if it is still ours; safe to call more than once. */
  release(): void;
}

export interface BenchLockOptions {
  /** Folder of the lock files. Default `<OS temp dir>/hil-bench-locks`. */
  dir?: string;
  /** Command line recorded as the holder's. Default this process's. */
  command?: string;
  /** Whether a process of this host is alive. Default: signal 0 (`EPERM` is alive: another user's). */
  isAlive?: (pid: number) => boolean;
}

/** Where the lock files are unless told: see the module comment for why. */
export function defaultLockDir(): string {
  return path.join(os.tmpdir(), 'hil-bench-locks');
}

/** The lock file of a rig (its name made safe for a file name). */
export function benchLockFile(rigName: string, dir = defaultLockDir()): string {
  return path.join(dir, `${rigName.replace(/[^A-Za-z0-9._-]+/g, '_')}.lock`);
}


function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function thisCommand(): string {
  const text = [path.basename(process.argv0), ...process.argv.slice(1).map((a, i) => (i === 0 ? path.relative(process.cwd(), a) || a : a))].join(' ').replace(/\s+/g, ' ');
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

/** What a lock file says, or undefined when there is none; `'unreadable'` when it is not a holder record. */
export function readBenchLock(rigName: string, dir = defaultLockDir()): LockHolder | 'unreadable' | undefined {
  return readHolder(benchLockFile(rigName, dir));
}

function readHolder(file: string): LockHolder | 'unreadable' | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'unreadable';
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.host === 'string' && typeof h.pid === 'number' && typeof h.started === 'string') return { host: h.host, pid: h.pid, user: String(h.user ?? '?'), command: String(h.command ?? '?'), started: h.started };
  } catch {
    // below
  }
  return 'unreadable';
}

/** `alice (pid 4242, hil run --rig lab) on bench-pc since 2026-12-02T01:00:00.000Z` */
export function describeHolder(h: LockHolder): string {
  return `${h.user} (pid ${h.pid}, ${h.command}) on ${h.host} since ${h.started}`;
}

/** What a live lock means for the bench, in words: for `hil doctor` and the refusal. */
function inUse(rigName: string, file: string, h: LockHolder, why: string): BenchInUse {
  return new BenchInUse(`bench ${rigName} is in use: held by ${describeHolder(h)}${why}; nothing was opened. Wait for it to finish, or stop it (lock file ${file})`, 'lock');
}

/**
 * Take the bench's lock, or throw {@link BenchInUse} naming who holds it. A lock left by a process
 * of this host that is gone is taken over (`tookOver` says from whom). The lock is released by
 * `release()`, and at the latest when the process exits (normal end, `process.exit`, an uncaught
 * error) or is stopped by SIGINT/SIGTERM/SIGHUP that nothing else handles.
 */
export function takeBenchLock(rigName: string, options: BenchLockOptions = {}): BenchLock {
  const dir = options.dir ?? defaultLockDir();
  const file = benchLockFile(rigName, dir);
  const isAlive = options.isAlive ?? processAlive;
  const host = os.hostname();
  ensureDir(dir);
  const holder: LockHolder = { host, pid: process.pid, user: userName(), command: options.command ?? thisCommand(), started: new Date().toISOString() };
  let tookOver: LockHolder | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
      try {
        fs.writeSync(fd, JSON.stringify(holder, null, 2) + '\n');
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw new Error(`cannot take the bench lock ${file}: ${(error as Error).message}`, { cause: error });
    }
    const found = readHolder(file);
    if (found === undefined) continue; // released meanwhile: try again
    if (found === 'unreadable') {
      // Being written by another taker right now, or damaged: only an old one is stale.
      const age = Date.now() - statMs(file);
      if (age < 10_000) throw new BenchInUse(`bench ${rigName} is being taken by another process right now (lock file ${file}); nothing was opened`, 'lock');
      removeStale(file, undefined);
      continue;
    }
    if (found.host !== host) throw inUse(rigName, file, found, ' (another host: whether it still runs cannot be checked from here)');
    if (isAlive(found.pid)) throw inUse(rigName, file, found, '');
    // Its process is gone (killed with SIGKILL, a power loss): the lock is stale.
    if (!removeStale(file, found)) continue;
    tookOver = found;
  }
  return held(file, holder, tookOver);
}

function statMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Shared by every user: sticky and world-writable like the temp dir itself, so each user removes only their own. */
function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o1777 });
    fs.chmodSync(dir, 0o1777); // the umask took bits off
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Remove a stale lock, but only the one judged stale: it is first moved aside, and if what was
 * moved is not that holder (another process took the bench meanwhile) it is put back.
 */
function removeStale(file: string, judged: LockHolder | undefined): boolean {
  const aside = `${file}.stale-${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = readHolder(aside);
  const same = judged === undefined ? moved === 'unreadable' : typeof moved === 'object' && moved.pid === judged.pid && moved.host === judged.host && moved.started === judged.started;
  if (!same) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // someone holds it again: they win
    }
    fs.rmSync(aside, { force: true });
    return false;
  }
  fs.rmSync(aside, { force: true });
  return true;
}

function held(file: string, holder: LockHolder, tookOver: LockHolder | undefined): BenchLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    for (const [sig, h] of signalHooks) process.off(sig, h);
    // Only our own: a lock file that says someone else is theirs.
    const now = readHolder(file);
    if (typeof now === 'object' && now.pid === holder.pid && now.host === holder.host && now.started === holder.started) fs.rmSync(file, { force: true });
  };
  // A signal nothing else handles would kill the process without its 'exit' event: release, then
  // die of the same signal as before. When the runner handles it, its process.exit releases.
  const signalHooks = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
    const h = (): void => {
      if (process.listenerCount(sig) > 1) return;
      release();
      process.kill(process.pid, sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  process.on('exit', release);
  return { file, holder, ...(tookOver ? { tookOver } : {}), release };
}
