import fs from 'node:fs';

/**
 * Whether libuv will reopen this tty instead of using the fd: it does for PTY slaves (majors
 * 136–143), `dup2`-ing its own descriptor over ours and closing only its own later — so ours must
 * be closed by us. For other ttys libuv takes the fd and closes it itself.
 */
export function isPtySlave(fd: number): boolean {
  const rdev = fs.fstatSync(fd).rdev;
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  return major >= 136 && major <= 143;
}
