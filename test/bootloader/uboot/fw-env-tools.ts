import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { run } from '../../../common/exec.js';
import { layoutFromFwEnvConfig, updateUbootEnv, type UbootEnvLayout } from '../../../bootloader/uboot/env.js';
import { inspectUbootEnvCopy } from '../../../bootloader/uboot/env-format.js';

/**
 * libubootenv's fw_printenv/fw_setenv (Debian's libubootenv-tool) as the reference the U-Boot
 * environment integration tests check against: temp image files, each with its own fw_env.config,
 * and a comparison of the same change made by fw_setenv and by updateUbootEnv.
 */
export interface FwEnv {
  cfg: string;
  path: string;
  layout: UbootEnvLayout;
}

export class FwEnvTools {
  private seq = 0;

  private constructor(
    private readonly dir: string,
    /** fw_printenv falls back to this "default environment" when no copy is valid; it is empty,
     * so a fall-back shows as no variables rather than as an exit code that hides what happened. */
    private readonly defaults: string,
  ) {}

  static async create(): Promise<FwEnvTools> {
    const dir = await mkdtemp(join(tmpdir(), 'ota-fwenv-'));
    const defaults = join(dir, 'defaults.txt');
    await writeFile(defaults, '');
    return new FwEnvTools(dir, defaults);
  }

  /** A fresh image file holding `bytes`, with an fw_env.config of `lines` (IMG stands for its path). */
  async storage(lines: string[], bytes: Buffer): Promise<FwEnv> {
    const n = ++this.seq;
    const path = join(this.dir, `env${n}.img`);
    const cfg = join(this.dir, `fw_env${n}.config`);
    await writeFile(path, bytes);
    const text = lines.map((l) => l.replace('IMG', path)).join('\n') + '\n';
    await writeFile(cfg, text);
    return { cfg, path, layout: layoutFromFwEnvConfig(text, cfg) };
  }

  /** `fw_printenv` parsed; callers list only values without newlines (a continuation line has no `=`). */
  async list(e: FwEnv): Promise<Map<string, string>> {
    const { stdout } = await run('fw_printenv', ['fw_printenv', '-c', e.cfg, '-f', this.defaults]);
    const lines = stdout.split('\n').filter((l) => l.includes('='));
    return new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  /** Output and warnings of a plain `fw_printenv`. */
  printenv(e: FwEnv): Promise<{ stdout: string; stderr: string }> {
    return run('fw_printenv', ['fw_printenv', '-c', e.cfg, '-f', this.defaults]);
  }

  /** One value, exactly (`fw_printenv -n`), newlines included. */
  async get(e: FwEnv, name: string): Promise<string> {
    const { stdout } = await run('fw_printenv', ['fw_printenv', '-c', e.cfg, '-f', this.defaults, '-n', name]);
    return stdout.replace(/\n$/, '');
  }

  /** `fw_setenv NAME VALUE`, or `fw_setenv NAME` to delete. */
  async set(e: FwEnv, name: string, value: string | null): Promise<void> {
    await run('fw_setenv', ['fw_setenv', '-c', e.cfg, '-f', this.defaults, name, ...(value === null ? [] : [value])]);
  }

  /** Makes one change with fw_setenv on a copy of `e` and with updateUbootEnv on another, expects the same result, returns ours. */
  async sameAsFwSetenv(e: FwEnv, name: string, value: string | null, recreate = false): Promise<FwEnv> {
    const bytes = await readFile(e.path);
    const lines = (await readFile(e.cfg, 'utf8')).split('\n').filter((l) => l !== '').map((l) => l.replace(e.path, 'IMG'));
    const tool = await this.storage(lines, bytes);
    const ours = await this.storage(lines, bytes);
    await this.set(tool, name, value);
    await updateUbootEnv(ours.layout, { [name]: value }, { recreate });
    expect(sameImage(e.layout, await readFile(ours.path), await readFile(tool.path))).toBe('same');
    return ours;
  }
}

/** Offset just past the closing NUL of a copy's data (or the area's end if there is none). */
function dataEnd(copy: Buffer, header: number): number {
  let p = header;
  while (p < copy.length && copy[p] !== 0) {
    const nul = copy.indexOf(0, p);
    p = nul < 0 ? copy.length : nul + 1;
  }
  return Math.min(p + 1, copy.length);
}

/**
 * 'same' when two images hold the same environment: identical outside the copies, and each copy
 * identical in CRC state, counter and data up to the closing NUL. libubootenv 0.3.2 does not clear
 * its buffer, so after the closing NUL it can leave stale heap bytes (which its CRC covers);
 * U-Boot and we zero-fill. Otherwise says where they differ.
 */
export function sameImage(layout: UbootEnvLayout, ours: Buffer, tool: Buffer): string {
  const red = layout.copies.length === 2;
  const header = red ? 5 : 4;
  const offsets = layout.copies.map((c) => (c.kind === 'raw' ? c.offset : 0));
  const mask = (b: Buffer) => {
    const m = Buffer.from(b);
    for (const o of offsets) m.fill(0, o, o + layout.envSize);
    return m;
  };
  if (!mask(ours).equals(mask(tool))) return 'bytes outside the copies differ';
  for (const o of offsets) {
    const [x, y] = [ours.subarray(o, o + layout.envSize), tool.subarray(o, o + layout.envSize)];
    const [hx, hy] = [inspectUbootEnvCopy(x, red), inspectUbootEnvCopy(y, red)];
    if (hx.crcOk !== hy.crcOk || hx.counter !== hy.counter) return `copy at 0x${o.toString(16)}: ours ${JSON.stringify(hx)}, fw_setenv ${JSON.stringify(hy)}`;
    const same = hx.crcOk ? x.subarray(header, dataEnd(x, header)).equals(y.subarray(header, dataEnd(y, header))) : x.equals(y);
    if (!same) return `copy at 0x${o.toString(16)}: data differs`;
  }
  return 'same';
}
