/**
 * fw_env.config, the file that tells fw_printenv/fw_setenv where U-Boot keeps its environment:
 * one line per copy, `device offset env-size [sector-size [sectors]]`, `#` comments. Parsing it
 * lets a board definition state the numbers once and both configure the device's tools and drive
 * our own reader; formatting it writes the device's /etc/fw_env.config from the same layout.
 *
 * The numbers are read as libubootenv reads them (sscanf `%lli` then `%lx`), which surprises:
 * the offset is a C integer (`0x` hex, leading `0` octal, else decimal), but the sizes are
 * always hexadecimal, so `4096` means 0x4096. Checked against Debian's fw_printenv 0.3.2.
 *
 * @example
 * const layout = layoutFromFwEnvConfig('/dev/mmcblk0 0x3f8000 0x4000\n/dev/mmcblk0 0x3fc000 0x4000\n', 'boards/x/fw_env.config');
 * // { envSize: 0x4000, copies: [{ kind: 'raw', path: '/dev/mmcblk0', offset: 0x3f8000 }, { kind: 'raw', ... }] }
 */
import { OtaError } from '../../common/errors.js';
import type { UbootEnvLayout, UbootEnvLocation } from './env-storage.js';
import { ubootEnvHeaderSize } from './env-format.js';

/** One line of fw_env.config: one copy of the environment. */
export interface FwEnvConfigEntry {
  device: string;
  offset: number;
  envSize: number;
  /** Erase-block size; only MTD devices use it. */
  sectorSize: number | undefined;
  /** Number of erase blocks; only MTD devices use it. */
  sectors: number | undefined;
  /** 1-based line number, for messages. */
  line: number;
}

function parseCInteger(token: string): number | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(token);
  if (!m) return undefined;
  if (/^0[xX]/.test(token)) return parseInt(token.slice(2), 16);
  if (token.length > 1 && token.startsWith('0')) return parseInt(token.slice(1), 8);
  return parseInt(token, 10);
}

function parseHex(token: string): number | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(token);
  return m?.[1] === undefined ? undefined : parseInt(m[1], 16);
}

/** The entries of an fw_env.config; throws on a line the tools would reject or misread. */
export function parseFwEnvConfig(text: string, source: string): FwEnvConfigEntry[] {
  const entries: FwEnvConfigEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const hash = raw.indexOf('#');
    const tokens = (hash < 0 ? raw : raw.slice(0, hash)).trim().split(/\s+/).filter((t) => t !== '');
    if (tokens.length === 0) return;
    const fail = (what: string) =>
      new OtaError('ERR_OTA_BOOTENV', `${what} (${source}:${line}: ${JSON.stringify(raw.trim())})`, {
        hint: 'each line is `device offset env-size [sector-size [sectors]]`; the offset is decimal, 0x-hex or 0-octal, the sizes are hexadecimal',
      });
    const [device, offsetTok, sizeTok, sectorTok, sectorsTok, ...extra] = tokens;
    if (device === undefined || offsetTok === undefined || sizeTok === undefined) throw fail('expected at least a device, an offset and an environment size');
    if (extra.length > 0) throw fail(`unexpected ${JSON.stringify(extra.join(' '))} after the sector count`);
    const offset = parseCInteger(offsetTok);
    if (offset === undefined) throw fail(`offset ${JSON.stringify(offsetTok)} is not a non-negative integer`);
    const envSize = parseHex(sizeTok);
    if (envSize === undefined || envSize === 0) throw fail(`environment size ${JSON.stringify(sizeTok)} is not a positive hexadecimal number`);
    const sectorSize = sectorTok === undefined ? undefined : parseHex(sectorTok);
    if (sectorTok !== undefined && sectorSize === undefined) throw fail(`sector size ${JSON.stringify(sectorTok)} is not a hexadecimal number`);
    const sectors = sectorsTok === undefined ? undefined : parseHex(sectorsTok);
    if (sectorsTok !== undefined && sectors === undefined) throw fail(`sector count ${JSON.stringify(sectorsTok)} is not a hexadecimal number`);
    entries.push({ device, offset, envSize, sectorSize, sectors, line });
  });
  return entries;
}

/**
 * The layout an fw_env.config describes, with every copy `raw` (written in place, as the tools
 * do). For `uboot.env` on vfat, build the layout with a `file` copy instead.
 */
export function layoutFromFwEnvConfig(text: string, source: string): UbootEnvLayout {
  const entries = parseFwEnvConfig(text, source);
  const [a, b, ...rest] = entries;
  const hint = 'one line for a single environment, two for a redundant one (CONFIG_ENV_OFFSET and CONFIG_ENV_OFFSET_REDUND)';
  if (!a) throw new OtaError('ERR_OTA_BOOTENV', `no environment copies in ${source}`, { hint });
  if (rest.length > 0) throw new OtaError('ERR_OTA_BOOTENV', `${entries.length} environment copies in ${source}; U-Boot keeps one or two`, { hint });
  if (b && b.envSize !== a.envSize) {
    throw new OtaError('ERR_OTA_BOOTENV', `the two environment copies in ${source} have different sizes (0x${a.envSize.toString(16)} on line ${a.line}, 0x${b.envSize.toString(16)} on line ${b.line})`, {
      hint: 'both copies have CONFIG_ENV_SIZE bytes',
    });
  }
  if (a.envSize <= ubootEnvHeaderSize(b !== undefined)) {
    throw new OtaError('ERR_OTA_BOOTENV', `environment size 0x${a.envSize.toString(16)} in ${source}:${a.line} leaves no room for variables`, {
      hint: 'the size is hexadecimal and must match CONFIG_ENV_SIZE',
    });
  }
  const loc = (e: FwEnvConfigEntry): UbootEnvLocation => ({ kind: 'raw', path: e.device, offset: e.offset });
  return { envSize: a.envSize, copies: b ? [loc(a), loc(b)] : [loc(a)] };
}

/** fw_env.config text for a layout (a `file` copy is its device at offset 0). */
export function formatFwEnvConfig(layout: UbootEnvLayout, sectorSize?: number): string {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const lines = layout.copies.map((c) => {
    const fields = [c.path, hex(c.kind === 'raw' ? c.offset : 0), hex(layout.envSize)];
    if (sectorSize !== undefined) fields.push(hex(sectorSize));
    return fields.join('\t');
  });
  return `# device\toffset\tenv-size${sectorSize === undefined ? '' : '\tsector-size'}\n${lines.join('\n')}\n`;
}
