import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `run.json`'s `status`: written `running` when a run starts, rewritten when it ends. */
export type RecordedRunStatus = 'running' | 'complete' | 'interrupted' | 'error';

/** What a run folder says about how its run ended. */
export interface RunStatus {
  /**
   * `complete`: it ran to its end. `interrupted`: stopped by a signal, and recorded so.
   * `error`: the harness ended it with an error (a scenario that did not load, a bench that did
   * not open). `running`: still running on this host. `incomplete`: it never finished (killed,
   * crashed, the host went down): its records stop wherever it was.
   */
  state: 'complete' | 'interrupted' | 'error' | 'running' | 'incomplete';
  /** One line for a reader. */
  note: string;
}

/** Whether a process of this host still runs (one we may not signal counts: it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How the run in `dir` ended, from its `run.json` (a folder from before run statuses: complete). */
export function readRunStatus(dir: string): RunStatus {
  let meta: { status?: RecordedRunStatus; pid?: number; host?: string; ended?: string } = {};
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as typeof meta;
  } catch {
    return { state: 'incomplete', note: 'no readable run.json: the run never recorded how it ended' };
  }
  switch (meta.status) {
    case undefined:
    case 'complete':
      return { state: 'complete', note: 'complete' };
    case 'interrupted':
      return { state: 'interrupted', note: `interrupted (Ctrl-C or SIGTERM) at ${meta.ended ?? '?'}` };
    case 'error':
      return { state: 'error', note: `ended with a harness error at ${meta.ended ?? '?'}` };
    case 'running':
      if (meta.host === os.hostname() && typeof meta.pid === 'number' && processAlive(meta.pid)) return { state: 'running', note: `still running (pid ${meta.pid})` };
      return { state: 'incomplete', note: 'INCOMPLETE: the run never finished (killed, crashed or the host went down); its records stop wherever it was, and tests it did not reach have no rows' };
  }
}
