/**
 * GRUB's environment block (`grubenv`), where GRUB's `load_env`/`save_env` and `grub-editenv`
 * keep variables such as the boot counter. It is a fixed-size file, so that GRUB, which can only
 * overwrite blocks in place, can save to it: the header `# GRUB Environment Block\n`, then
 * `name=value\n` lines, padded to 1024 bytes with `#`.
 *
 * Follows GRUB's lib/envblk.c, checked against `grub-editenv` 2.06 (Debian bookworm) both ways:
 * a value's `\` and newline are written with a backslash before them, and a backslash takes the
 * next character literally on reading; names are stored as they are; lines starting with `#` are
 * comments (Debian's `grub-editenv create` adds a warning comment, which we do not keep). Unlike
 * grub-editenv, which rewrites the file in place, writes here are atomic (temp file, rename).
 *
 * @example
 * await writeGrubEnv('/boot/grub/grubenv', new Map([['boot_counter', '3'], ['boot_success', '0']]));
 * await updateGrubEnv('/boot/grub/grubenv', { boot_success: '1', boot_counter: null });
 */
import { readFile } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/atomic-write.js';

/** Size of the block grub-editenv creates; GRUB's save_env can only overwrite it, never grow it. */
export const GRUBENV_SIZE = 1024;
/** The signature GRUB checks before it trusts a block. */
export const GRUBENV_HEADER = '# GRUB Environment Block\n';

/** Variables in block order: GRUB keeps a variable where it is when its value changes. */
export type GrubEnvVars = ReadonlyMap<string, string>;

const recreateHint = (where: string) => `recreate it with \`grub-editenv ${where} create\` (or write it with writeGrubEnv) and set the variables again`;

/** The variables in a block, in file order (a later duplicate wins, as GRUB's load_env sets them in turn). */
export function parseGrubEnv(bytes: Uint8Array, where: string): Map<string, string> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.startsWith(GRUBENV_HEADER)) {
    throw new OtaError('ERR_OTA_BOOTENV', `not a GRUB environment block: it does not start with "# GRUB Environment Block" (${where})`, { hint: recreateHint(where) });
  }
  const vars = new Map<string, string>();
  let p = GRUBENV_HEADER.length;
  const broken = (at: number) =>
    new OtaError('ERR_OTA_BOOTENV', `GRUB environment block is damaged at byte ${Buffer.byteLength(text.slice(0, at))}: a variable has no \`=\` or no end of line (${where})`, {
      hint: `GRUB ignores everything from there on; ${recreateHint(where)}`,
    });
  while (p < text.length) {
    if (text[p] === '#') {
      p = nextLine(text, p);
      continue;
    }
    const eq = text.indexOf('=', p);
    if (eq < 0) throw broken(p);
    const name = text.slice(p, eq);
    let value = '';
    let q = eq + 1;
    while (q < text.length && text[q] !== '\n') {
      if (text[q] === '\\') q++;
      if (q >= text.length) break;
      value += text[q];
      q++;
    }
    if (q >= text.length) throw broken(p);
    vars.set(name, value);
    p = q + 1;
  }
  return vars;
}

/** Index after the end of the line at `p`, skipping escaped characters as GRUB's find_next_line does. */
function nextLine(text: string, p: number): number {
  while (p < text.length && text[p] !== '\n') p += text[p] === '\\' ? 2 : 1;
  return p + 1;
}

function checkGrubVariable(name: string, value: string, where: string): void {
  const bad = (what: string) =>
    new OtaError('ERR_OTA_BOOTENV', `GRUB variable ${JSON.stringify(name)} ${what} (${where})`, {
      hint: 'GRUB names cannot be empty, contain `=`, a newline or NUL, or start with `#`; values cannot contain NUL',
    });
  if (name === '') throw bad('has an empty name');
  if (name.includes('=')) throw bad('has `=` in its name');
  if (name.includes('\n') || name.includes('\0')) throw bad('has a newline or NUL in its name');
  // GRUB would read the line as a comment and the variable would silently disappear.
  if (name.startsWith('#')) throw bad('starts with `#`, which GRUB reads as a comment');
  if (value.includes('\0')) throw bad('has a NUL in its value');
}

/** The 1024-byte block for `vars`, in their order; throws if they do not fit. */
export function formatGrubEnv(vars: GrubEnvVars, where: string): Buffer {
  let body = GRUBENV_HEADER;
  for (const [name, value] of vars) {
    checkGrubVariable(name, value, where);
    body += `${name}=${value.replace(/[\\\n]/g, (c) => `\\${c}`)}\n`;
  }
  const used = Buffer.byteLength(body);
  if (used > GRUBENV_SIZE) {
    throw new OtaError('ERR_OTA_BOOTENV', `GRUB environment needs ${used} bytes but the block holds ${GRUBENV_SIZE} (${where})`, {
      hint: 'GRUB can only save into a fixed 1024-byte block: shorten or drop variables',
    });
  }
  const buf = Buffer.alloc(GRUBENV_SIZE, '#');
  buf.write(body, 0, 'utf8');
  return buf;
}

/** Reads a grubenv file. */
export async function readGrubEnv(path: string): Promise<Map<string, string>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new OtaError('ERR_OTA_BOOTENV', `cannot read GRUB environment block (${path}): ${err.message}`, {
      hint: err.code === 'ENOENT' ? `is /boot mounted? ${recreateHint(path)}` : undefined,
      cause: e,
    });
  }
  return parseGrubEnv(bytes, path);
}

/** Replaces a grubenv file atomically with a block holding exactly `vars`. */
export async function writeGrubEnv(path: string, vars: GrubEnvVars): Promise<void> {
  const bytes = formatGrubEnv(vars, path);
  try {
    await writeFileAtomic(path, bytes);
  } catch (e) {
    throw new OtaError('ERR_OTA_BOOTENV', `cannot write GRUB environment block (${path}): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Sets (string) or deletes (null) some variables and keeps the others in place, as
 * `grub-editenv set`/`unset` do: a changed variable keeps its position, a new one goes last.
 */
export async function updateGrubEnv(path: string, changes: Readonly<Record<string, string | null>>): Promise<Map<string, string>> {
  const vars = await readGrubEnv(path);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) vars.delete(name);
    else vars.set(name, value);
  }
  await writeGrubEnv(path, vars);
  return vars;
}
