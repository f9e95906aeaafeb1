import fs from 'node:fs';
import path from 'node:path';
import type { TakeoverFinding } from '../hw/firmata-board.ts';
import { readRunStatus } from '../report/run-status.ts';

/** A run on this rig that never finished (killed, crashed): what may have left relays energised. */
export interface UnfinishedRun {
  runId: string;
  dir: string;
  started: Date;
}

/**
 * The latest run of `rig` under the reports root `outDir`, when it never finished. A run that
 * ended (complete, interrupted, error) released the bench as it closed, so only an unfinished
 * latest run explains relays found energised; anything else leaves their origin unknown.
 */
export function lastUnfinishedRun(outDir: string, rig: string, exclude?: string): UnfinishedRun | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(outDir);
  } catch {
    return undefined;
  }
  let latest: (UnfinishedRun & { t: number }) | undefined;
  for (const name of names) {
    if (name === exclude) continue;
    const dir = path.join(outDir, name);
    let meta: { runId?: string; rig?: string; started?: string };
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as typeof meta;
    } catch {
      continue;
    }
    const t = Date.parse(meta.started ?? '');
    if (meta.rig !== rig || !Number.isFinite(t)) continue;
    if (!latest || t > latest.t) latest = { runId: meta.runId ?? name, dir, started: new Date(t), t };
  }
  if (!latest || readRunStatus(latest.dir).state !== 'incomplete') return undefined;
  return { runId: latest.runId, dir: latest.dir, started: latest.started };
}

/** `4 min`, `2 h 5 min`, `under 1 min`. */
function span(ms: number): string {
  const min = Math.ceil(ms / 60_000);
  if (min <= 0) return 'under 1 min';
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

/**
 * One warning per board whose takeover found relays left energised (a killed run's presses, held
 * until now): each channel by name and pin, and how long it may have been held — since the start
 * of the unfinished run that left it at most, or for an unknown time. Empty when nothing was left.
 */
export function takeoverWarnings(boards: Iterable<{ name: string; found: TakeoverFinding | undefined }>, unfinished: () => UnfinishedRun | undefined, now = new Date()): string[] {
  const out: string[] = [];
  let prev: UnfinishedRun | undefined | null = null;
  for (const b of boards) {
    const f = b.found;
    if (f?.state !== 'set' || f.energised.length === 0) continue;
    if (prev === null) prev = unfinished();
    const channels = f.energised.map((o) => `${o.name} (pin ${o.pin})`).join(', ');
    const held = prev
      ? `held since ${prev.started.toISOString()} at the earliest (up to ${span(now.getTime() - prev.started.getTime())}), when run ${prev.runId} started; it never finished`
      : 'held for an unknown time (no unfinished run of this rig in the reports folder)';
    const n = f.energised.length;
    out.push(`${b.name}: found ${n} relay${n > 1 ? 's' : ''} left energised by an earlier session, now released: ${channels}; ${held}`);
  }
  return out;
}
