/**
 * Where a copy of the U-Boot environment lives, and reading and writing its bytes there. Two kinds,
 * because they fail differently when power goes mid-write:
 * - `file`: the whole file is one copy (`uboot.env` on a vfat boot partition, U-Boot's
 *   CONFIG_ENV_IS_IN_FAT). Replaced atomically (temp file, fsync, rename), so a reader sees the
 *   old copy or the new one. fw_setenv instead rewrites such a file in place.
 * - `raw`: a copy at a byte offset of a block device or disk image (CONFIG_ENV_IS_IN_MMC with
 *   CONFIG_ENV_OFFSET / CONFIG_ENV_OFFSET_REDUND). Written in place and fsynced, as fw_setenv
 *   does; only a redundant layout makes that safe, because the write goes to the copy that is not
 *   current (env-redundancy.ts).
 *
 * @example
 * const bytes = await readUbootEnvCopy({ kind: 'raw', path: '/dev/mmcblk0', offset: 0x3f8000 }, 0x4000);
 * await writeUbootEnvCopy({ kind: 'file', path: '/boot/firmware/uboot.env' }, bytes);
 */
import { open, readFile } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/atomic-write.js';

/** One copy's place: a whole file, or an offset in a device or image (see above for why both). */
export type UbootEnvLocation = { kind: 'file'; path: string } | { kind: 'raw'; path: string; offset: number };

/** Where and how big the copies are: one copy, or two for a redundant environment. */
export interface UbootEnvLayout {
  /** Bytes per copy, header included (CONFIG_ENV_SIZE). */
  envSize: number;
  copies: readonly [UbootEnvLocation] | readonly [UbootEnvLocation, UbootEnvLocation];
}

/** "uboot.env" or "/dev/mmcblk0 at 0x3f8000", for messages. */
export function describeUbootEnvLocation(loc: UbootEnvLocation): string {
  return loc.kind === 'file' ? loc.path : `${loc.path} at 0x${loc.offset.toString(16)}`;
}

function ioError(action: string, loc: UbootEnvLocation, e: unknown): OtaError {
  const err = e as NodeJS.ErrnoException;
  const hint =
    err.code === 'ENOENT'
      ? loc.kind === 'file'
        ? 'is the boot partition mounted? A missing file can be created by writing with { recreate: true }'
        : 'check the device or image path (fw_env.config, first field)'
      : err.code === 'EACCES' || err.code === 'EPERM'
        ? 'run as root, or check the permissions of the device or file'
        : undefined;
  return new OtaError('ERR_OTA_BOOTENV', `cannot ${action} U-Boot environment (${describeUbootEnvLocation(loc)}): ${err.message}`, { hint, cause: e });
}

/** Whether reading failed because a `file` copy does not exist yet (a fresh boot partition). */
export function isMissingUbootEnvFile(e: unknown): boolean {
  return e instanceof OtaError && e.cause instanceof Error && (e.cause as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The `envSize` bytes of one copy; throws if the file or device ends before them. */
export async function readUbootEnvCopy(loc: UbootEnvLocation, envSize: number): Promise<Buffer> {
  if (loc.kind === 'file') {
    let bytes: Buffer;
    try {
      bytes = await readFile(loc.path);
    } catch (e) {
      throw ioError('read', loc, e);
    }
    // U-Boot reads CONFIG_ENV_SIZE bytes of uboot.env; a shorter file can never have a good CRC.
    if (bytes.length < envSize) {
      throw new OtaError('ERR_OTA_BOOTENV', `U-Boot environment file is ${bytes.length} bytes, shorter than the environment size ${envSize} (0x${envSize.toString(16)}) (${loc.path})`, {
        hint: 'the size must match CONFIG_ENV_SIZE; if it does, the file is damaged: recreate it',
      });
    }
    return bytes.subarray(0, envSize);
  }
  let fh;
  try {
    fh = await open(loc.path, 'r');
  } catch (e) {
    throw ioError('open', loc, e);
  }
  try {
    const buf = Buffer.alloc(envSize);
    let got = 0;
    while (got < envSize) {
      const { bytesRead } = await fh.read(buf, got, envSize - got, loc.offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < envSize) {
      throw new OtaError('ERR_OTA_BOOTENV', `${loc.path} ends ${got} bytes into the U-Boot environment copy at 0x${loc.offset.toString(16)} (needs ${envSize})`, {
        hint: 'check the offset and size (fw_env.config fields 2 and 3) against CONFIG_ENV_OFFSET and CONFIG_ENV_SIZE',
      });
    }
    return buf;
  } catch (e) {
    throw e instanceof OtaError ? e : ioError('read', loc, e);
  } finally {
    await fh.close();
  }
}

/** Writes one whole copy: atomically for `file`, in place and fsynced for `raw`. */
export async function writeUbootEnvCopy(loc: UbootEnvLocation, bytes: Uint8Array): Promise<void> {
  if (loc.kind === 'file') {
    try {
      await writeFileAtomic(loc.path, bytes);
    } catch (e) {
      throw ioError('write', loc, e);
    }
    return;
  }
  let fh;
  try {
    fh = await open(loc.path, 'r+');
  } catch (e) {
    throw ioError('open', loc, e);
  }
  try {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, loc.offset + done);
      done += bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    throw ioError('write', loc, e);
  } finally {
    await fh.close();
  }
}
