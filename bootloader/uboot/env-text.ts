/**
 * U-Boot's plain-text environment, the format of `env import -t` and `env export -t`:
 * `name=value` lines. The reference board keeps its boot-counting state this way in `ota.env` on
 * its vfat boot partition, because U-Boot there cannot `saveenv` but can `fatload` + `env import
 * -t` and `env export -t` + `fatwrite` (docs/platform-facts.md, "U-Boot"); Linux reads and writes the same file here.
 *
 * Parsing follows U-Boot's himport_r (without `-r`): leading spaces and tabs are skipped, a line
 * starting with `#` is a comment, a backslash takes the next character literally (so `\` + newline
 * continues a value), and `name` or `name=` alone deletes the variable — U-Boot has no empty
 * variables. Formatting follows hexport_r: sorted by name, `\` and newline escaped with a
 * backslash, which himport_r reads back exactly.
 *
 * @example
 * await writeUbootEnvText('/boot/efi/ota.env', new Map([['bootcount', '0'], ['upgrade_available', '1']]));
 * const vars = await readUbootEnvText('/boot/efi/ota.env'); // Map { bootcount → '0', upgrade_available → '1' }
 */
import { readFile } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { checkUbootVariable, type UbootEnvVars } from './env-format.js';

/** The variables `env import -t` would set from `text` (those it would delete are absent). */
export function parseUbootEnvText(text: string, where: string): Map<string, string> {
  const vars = new Map<string, string>();
  // himport_r stops at a NUL: `env import -t` without a size reads up to the first one.
  const nul = text.indexOf('\0');
  const src = nul < 0 ? text : text.slice(0, nul);
  let pos = 0;
  let line = 1;
  while (pos < src.length) {
    while (src[pos] === ' ' || src[pos] === '\t') pos++;
    const startLine = line;
    if (src[pos] === '#') {
      const nl = src.indexOf('\n', pos);
      pos = nl < 0 ? src.length : nl + 1;
      line++;
      continue;
    }
    let end = pos;
    while (end < src.length && src[end] !== '=' && src[end] !== '\n') end++;
    const name = src.slice(pos, end);
    if (end >= src.length || src[end] === '\n' || end + 1 >= src.length || src[end + 1] === '\n') {
      vars.delete(name);
      pos = src[end] === '=' ? end + 2 : end + 1;
      line++;
      continue;
    }
    let value = '';
    let p = end + 1;
    while (p < src.length && src[p] !== '\n') {
      if (src[p] === '\\' && p + 1 < src.length) p++;
      if (src[p] === '\n') line++;
      value += src[p];
      p++;
    }
    pos = p + 1;
    line++;
    if (name === '') {
      // himport_r gives up on the whole import here, so U-Boot would keep none of the file.
      throw new OtaError('ERR_OTA_BOOTENV', `U-Boot text environment has a value without a name on line ${startLine} (${where}); \`env import -t\` rejects the whole file`, {
        hint: 'every line is `name=value`; fix or remove that line',
      });
    }
    vars.set(name, value);
  }
  return vars;
}

/**
 * The text `env export -t` would write for `vars`. An empty value becomes `name=`, which `env
 * import -t` reads as "delete": the closest U-Boot has to an empty variable.
 */
export function formatUbootEnvText(vars: UbootEnvVars, where: string): string {
  const names = [...vars.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  let out = '';
  for (const name of names) {
    const value = vars.get(name) ?? '';
    checkUbootVariable(name, value, where);
    out += `${name}=${value.replace(/[\\\n]/g, (c) => `\\${c}`)}\n`;
  }
  return out;
}

/** Reads a text environment file such as `ota.env`. */
export async function readUbootEnvText(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new OtaError('ERR_OTA_BOOTENV', `cannot read U-Boot text environment (${path}): ${err.message}`, {
      hint: err.code === 'ENOENT' ? 'is the boot partition mounted? The image build creates this file' : undefined,
      cause: e,
    });
  }
  return parseUbootEnvText(text, path);
}

/** Replaces a text environment file atomically (temp file, fsync, rename). */
export async function writeUbootEnvText(path: string, vars: UbootEnvVars): Promise<void> {
  const text = formatUbootEnvText(vars, path);
  try {
    await writeFileAtomic(path, text);
  } catch (e) {
    throw new OtaError('ERR_OTA_BOOTENV', `cannot write U-Boot text environment (${path}): ${(e as Error).message}`, { cause: e });
  }
}
