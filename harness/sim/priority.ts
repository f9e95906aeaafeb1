import fs from 'node:fs';
import os from 'node:os';

/** Nice value the sim asks for its devices (below 0: scheduled ahead of the harness and the test runner). */
export const SIM_PRIORITY = -10;

/** What {@link rankAsDevice} managed to set. */
export interface Ranked {
  /** The process's own nice value. */
  nice: boolean;
  /** Its session's autogroup (the rank that counts against other sessions under autogroup scheduling). */
  autogroup: boolean;
}

/**
 * Schedule a process that stands in for a device (the sim itself, or a firmware program run as
 * one of its devices) ahead of the harness, test runners and anything else on the host.
 *
 * The devices of a real bench run beside the host, not on it: a starved device model reads a press
 * and its release together, and a starved firmware program measures its own callbacks as slow.
 * With the kernel's autogroup scheduling (most desktop and CI kernels) a nice value only ranks a
 * process inside its own session, and sessions share the CPU equally; a process started in a
 * session of its own (the sim, a `--dut-cmd` program in its own process group) must also rank its
 * session. Where the OS does not allow it (not root, no CAP_SYS_NICE, no autogroup) the process
 * keeps the default priority, and the function says what it could set.
 */
export function rankAsDevice(pid: number | 'self', nice = SIM_PRIORITY): Ranked {
  const ranked: Ranked = { nice: false, autogroup: false };
  try {
    if (pid === 'self') os.setPriority(nice);
    else os.setPriority(pid, nice);
    ranked.nice = true;
  } catch {
    // not allowed here: the default priority
  }
  try {
    fs.writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    ranked.autogroup = true;
  } catch {
    // no autogroup (or not allowed): the nice value above is what there is
  }
  return ranked;
}
