import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { OtaError } from '../../common/errors.js';

/**
 * Reads what an initramfs holds, to check a board build's initramfs before it is committed: a
 * dracut that silently finds no drivers (a 32-bit dracut-install under qemu-user reading ext4
 * directories, say) makes an image that boots to "waiting for root device" on every board, and
 * nothing else in the build notices.
 *
 * An initramfs is a sequence of cpio archives ("newc", as the kernel reads them), each either
 * uncompressed (dracut's early microcode part) or gzip-compressed (the main part: the build
 * makes dracut use gzip, so nothing else needs decoding here).
 *
 * @example
 * const missing = missingRootModules(listInitramfs(img, 'initramfs.img'), builtinText, ['ext4', 'virtio_blk']);
 */
export function listInitramfs(data: Buffer, where: string): string[] {
  const paths: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) {
      pos++; // padding between archives
    } else if (data.toString('latin1', pos, pos + 5) === '07070') {
      pos = readCpio(data, pos, paths, where);
    } else if (data[pos] === 0x1f && data[pos + 1] === 0x8b) {
      let inner: Buffer;
      try {
        inner = gunzipSync(data.subarray(pos));
      } catch (e) {
        throw new OtaError('ERR_OTA_BUILD', `${where}: the gzip part at byte ${pos} does not decompress: ${(e as Error).message}`);
      }
      paths.push(...listInitramfs(inner, where));
      break;
    } else {
      throw new OtaError('ERR_OTA_BUILD', `${where}: byte ${pos} starts neither a cpio archive nor gzip data (0x${data.subarray(pos, pos + 4).toString('hex')})`, {
        hint: 'the build makes dracut compress with gzip; another compressor in dracut.conf.d overrides it',
      });
    }
  }
  return paths;
}

/** Reads one cpio archive from `pos` to its trailer; returns the position after it. */
function readCpio(data: Buffer, start: number, paths: string[], where: string): number {
  let pos = start;
  for (;;) {
    const magic = data.toString('latin1', pos, pos + 6);
    if (magic !== '070701' && magic !== '070702') throw new OtaError('ERR_OTA_BUILD', `${where}: broken cpio header at byte ${pos} (${JSON.stringify(magic)})`);
    const field = (i: number) => parseInt(data.toString('latin1', pos + 6 + i * 8, pos + 14 + i * 8), 16);
    const fileSize = field(6);
    const nameSize = field(11);
    if (!Number.isFinite(fileSize) || !Number.isFinite(nameSize) || pos + 110 + nameSize > data.length) {
      throw new OtaError('ERR_OTA_BUILD', `${where}: truncated cpio entry at byte ${pos}`);
    }
    const name = data.toString('utf8', pos + 110, pos + 110 + nameSize - 1);
    pos = align4(pos + 110 + nameSize);
    pos = align4(pos + fileSize);
    if (name === 'TRAILER!!!') return pos;
    paths.push(name.replace(/^\.?\//, ''));
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** `ext4.ko.xz` -> `ext4`; dashes and underscores are the same to modprobe. */
export function moduleName(path: string): string | undefined {
  const m = /^(.+)\.ko(\.(xz|gz|zst))?$/.exec(basename(path));
  return m ? m[1]!.replace(/-/g, '_') : undefined;
}

/**
 * The modules of `required` that are neither in the initramfs nor built into the kernel
 * (`modules.builtin`, one `kernel/.../name.ko` per line).
 */
export function missingRootModules(initramfsPaths: string[], modulesBuiltin: string, required: string[]): string[] {
  const have = new Set<string>();
  for (const p of initramfsPaths) {
    const n = moduleName(p);
    if (n) have.add(n);
  }
  for (const line of modulesBuiltin.split('\n')) {
    const n = moduleName(line.trim());
    if (n) have.add(n);
  }
  return required.filter((r) => !have.has(r.replace(/-/g, '_')));
}

/** Whether dracut's ostree module made it in: ostree-prepare-root is what mounts the deployment. */
export function hasOstreePrepareRoot(initramfsPaths: string[]): boolean {
  return initramfsPaths.some((p) => basename(p) === 'ostree-prepare-root');
}

/**
 * Refuses a kernel of a deployable tree whose initramfs (usr/lib/modules/$kver/initramfs.img)
 * is missing, lacks dracut's ostree module, or lacks one of `rootModules` that the kernel does
 * not have built in: that image could not mount its root on the board.
 */
export async function checkInitramfs(root: string, kver: string, rootModules: string[], where: string): Promise<void> {
  const dir = join(root, 'usr/lib/modules', kver);
  const img = join(dir, 'initramfs.img');
  if (!existsSync(img)) {
    throw new OtaError('ERR_OTA_BUILD', `${where}: no initramfs was made (usr/lib/modules/${kver}/initramfs.img is missing)`, { hint: 'check that the board lists dracut and that the kernel package installs /boot/vmlinuz-<version>' });
  }
  const paths = listInitramfs(await readFile(img), `${where}: initramfs.img`);
  const problems: string[] = [];
  if (!hasOstreePrepareRoot(paths)) problems.push("dracut's ostree module (no ostree-prepare-root, so it could not mount the deployment)");
  const builtin = existsSync(join(dir, 'modules.builtin')) ? await readFile(join(dir, 'modules.builtin'), 'utf8') : '';
  const missing = missingRootModules(paths, builtin, rootModules);
  if (missing.length > 0) problems.push(`the module${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (not built into the kernel either), which the board needs to reach its root`);
  if (problems.length > 0) {
    throw new OtaError('ERR_OTA_BUILD', `${where}: the initramfs lacks ${problems.join(', and ')}; it holds ${paths.filter((p) => moduleName(p)).length} modules in ${paths.length} files`, {
      details: problems,
      hint: "check board.yaml's kernel.rootModules against the kernel's modules.dep and modules.builtin, and that the board's packages include ostree-boot",
    });
  }
}
