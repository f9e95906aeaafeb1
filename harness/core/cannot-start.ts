import type { Expectation } from './observation-log.ts';

/**
 * Console lines by which a device's program says it cannot start at all on this host or board: a
 * module it imports is not installed, its command or file is not there, a shared library is
 * missing. Printed before the device was ever ready, they say nothing about the firmware's
 * behaviour, which never ran: the bench is not set up for it (ERROR, not FAIL).
 *
 * Only the start of a run reads them. The same line from a device that was ready once (a lazy
 * import in a handler) is the firmware dying, judged by the death patterns as always.
 */
export const CANNOT_START_PATTERNS: readonly RegExp[] = [
  // Python: an import the program needs fails (the module is missing, or not that version).
  /^(?:ModuleNotFoundError|ImportError): /,
  // Python given a file that is not there.
  /^\S*python[\d.]*: can't open file /,
  // /bin/sh (dash, bash) could not find or run the command.
  /^(?:\/bin\/)?(?:ba|da)?sh: (?:line )?\d*:? ?.*: (?:not found|command not found|Permission denied|No such file or directory)$/,
  // The dynamic loader: a C/C++ program built against a library this host lacks.
  /: error while loading shared libraries: /,
  /cannot execute binary file|Exec format error/,
];

/** The line, if it is one of {@link CANNOT_START_PATTERNS}. */
export function cannotStartLine(text: string | undefined): boolean {
  return text !== undefined && CANNOT_START_PATTERNS.some((p) => p.test(text));
}

/** A device's console saying its program cannot start (see {@link CANNOT_START_PATTERNS}). */
export function cannotStartExpectation(device: string): Expectation {
  return { topic: `${device}.*`, where: (o) => cannotStartLine(o.text), describe: `${device}'s program unable to start` };
}
