import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OtaError } from './errors.js';

/**
 * The `file:` half of the one door (`http.ts`, `download.ts`): a lock or a source may name any
 * path, and reading a device (`/dev/zero` never ends), a FIFO (blocks until a writer comes, and
 * no signal ends the wait) or a directory is never what a local archive means. The file is
 * opened non-blocking (so a FIFO without a writer cannot hang the open) and checked with fstat on
 * the handle itself (so nothing can swap the path between the check and the read); anything but
 * a regular file is ERR_OTA_FETCH. A missing file is `undefined`: callers decide what that means.
 *
 * @example
 * const fh = await openRegular('file:///srv/mirror/pool/h/hello.deb');
 */
export async function openRegular(url: string): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(fileURLToPath(url), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OtaError('ERR_OTA_FETCH', `cannot read ${url}: ${(e as Error).message}`, { cause: e });
  }
  const st = await fh.stat();
  if (st.isFile()) return fh;
  await fh.close();
  throw new OtaError('ERR_OTA_FETCH', `${url} is ${kindOf(st)}, not a regular file`, {
    hint: 'a file: source must name a directory of an archive whose files are regular files; check the source uri in the manifest or lock',
  });
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

/**
 * Reads a whole regular file behind `url` (undefined if it is missing), at most `maxBytes` when
 * given: the caller passes the size it expects plus one, so a longer file is seen as longer
 * without reading all of it. `signal` ends the read.
 */
export async function readRegular(url: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer | undefined> {
  options.signal?.throwIfAborted();
  const fh = await openRegular(url);
  if (!fh) return undefined;
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const stream = fh.createReadStream({ autoClose: false, start: 0, end: options.maxBytes === undefined ? undefined : options.maxBytes - 1 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      chunks.push(chunk);
      total += chunk.length;
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new OtaError('ERR_OTA_FETCH', `cannot read ${url}: ${(e as Error).message}`, { cause: e });
  } finally {
    await fh.close();
  }
}
