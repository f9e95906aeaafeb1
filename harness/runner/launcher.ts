import fs from 'node:fs';

/** This process's parent now: from /proc on Linux (process.ppid is fixed at start), else the original while it lives. */
function parentNow(original: number): number {
  try {
    // /proc/self/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    try {
      process.kill(original, 0);
      return original;
    } catch {
      return -1;
    }
  }
}

/**
 * Call `onGone` once when the process that started this one goes away. `npm start` and `npx hil`
 * run the harness under `sh -c`, and npm forwards SIGINT/SIGTERM to that shell, which dies
 * without passing them on: the harness would run on, orphaned, pressing relays. When the parent
 * changes, the harness treats it as a stop. Checked every `everyMs` (default 50). Returns the stop function.
 */
export function watchLauncher(onGone: () => void, everyMs = 50): () => void {
  const original = process.ppid;
  const timer = setInterval(() => {
    if (parentNow(original) === original) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
