// Real firmware for the simulated bench: builds the C++ ESP firmware for the host (cached by the
// hash of its sources and flags) and gives the command lines that run each example firmware as
// an external device (--esp-cmd, --dut-cmd). Shared by the verdict matrix and its tests.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ESP_DIR = path.join(ROOT, 'examples/firmware/esp');
export const PANEL_DIR = path.join(ROOT, 'examples/firmware/panel');
const CACHE = path.join(ROOT, '.cache/firmware');

/** Seeded bugs of the C++ ESP firmware (`--bug NAME`), each with the invariant meant to catch it. */
export const ESP_BUGS = {
  'sync-db': 'death-pattern',
  'wrap-off-by-one': 'exactly-once',
  'silent-drop': 'exactly-once',
} as const;
export type EspBug = keyof typeof ESP_BUGS;

/** Options of {@link buildEspFirmware}. */
export interface EspBuildOptions {
  /** Build with ThreadSanitizer (`-fsanitize=thread`). Default false. */
  tsan?: boolean;
}

/**
 * Compile `examples/firmware/esp` with `g++ -pthread` and return the binary's path. The binary is
 * cached in `.cache/firmware/` under the hash of every source file and the flags, so a second
 * call costs a few file reads.
 */
export async function buildEspFirmware(opts: EspBuildOptions = {}): Promise<string> {
  const sources: string[] = [];
  for (const dir of ['src', 'host']) {
    for (const f of (await readdir(path.join(ESP_DIR, dir))).sort()) sources.push(path.join(dir, f));
  }
  const flags = ['-std=c++17', '-O1', '-g', '-pthread', '-Wall', '-Wextra', '-Werror', '-Ihost', ...(opts.tsan ? ['-fsanitize=thread'] : [])];
  const h = createHash('sha256').update(flags.join(' '));
  for (const f of sources) h.update(f).update(await readFile(path.join(ESP_DIR, f)));
  const out = path.join(CACHE, `esp-${opts.tsan ? 'tsan-' : ''}${h.digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return out;
  await mkdir(CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const cpp = sources.filter((f) => f.endsWith('.cpp'));
  try {
    await run('g++', [...flags, ...cpp, '-o', tmp], { cwd: ESP_DIR });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`cannot build the ESP firmware (g++ ${[...flags, ...cpp].join(' ')} in ${ESP_DIR}):\n${err.stderr ?? err.message}`, { cause: e });
  }
  await rename(tmp, out);
  return out;
}

/** The `--esp-cmd` for a built binary, with a seeded bug or none. Its stderr joins the console. */
export function espCommand(binary: string, bug?: EspBug): string {
  return `exec ${JSON.stringify(binary)}${bug ? ` --bug ${bug}` : ''} 2>&1`;
}
