import { readFile, stat } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';

/**
 * The largest lockfile read. A lock of 20000 packages is a few tens of MiB at most; a lockfile
 * arrives in pull requests, and one of hundreds of MiB would be read whole (or fail with a
 * JavaScript "Invalid string length") before any check could refuse it.
 */
export const MAX_LOCK_BYTES = 64 * 1024 * 1024;

/**
 * A lockfile's text, after checking its size on disk. Errors of stat and read are passed on as
 * they are (each caller words a missing file its own way); a file over the cap is ERR_OTA_LOCKFILE.
 *
 * @example
 * const text = await readLockText('image.lock');
 */
export async function readLockText(path: string): Promise<string> {
  const st = await stat(path);
  if (!st.isFile() && !st.isDirectory()) {
    // A FIFO or a device would be read forever (a directory fails in readFile, with its own words).
    throw new OtaError('ERR_OTA_LOCKFILE', `${path} is not a regular file; it was not read`, { hint: 'give the path of the lockfile `ota lock` wrote' });
  }
  if (st.size > MAX_LOCK_BYTES) {
    throw new OtaError('ERR_OTA_LOCKFILE', `${path} is ${st.size} bytes, more than the ${MAX_LOCK_BYTES / 1024 / 1024} MiB a lockfile may have; it was not read`, {
      hint: 'a lockfile is a few MiB at most: check that the path names the lock `ota lock` wrote',
    });
  }
  return readFile(path, 'utf8');
}
