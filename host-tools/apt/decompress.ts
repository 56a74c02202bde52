import { gunzipSync } from 'node:zlib';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';

/** The compressions an archive offers its Packages index in ('' for none), in apt's order of preference. */
export type Compression = 'xz' | 'gz' | '';

/** Decompresses an index file; `where` names it in the error. */
export async function decompress(body: Buffer, ext: Compression, where: string): Promise<Buffer> {
  try {
    if (ext === 'gz') return gunzipSync(body);
    if (ext === 'xz') return (await run(`decompress ${where}`, ['xz', '-dc'], { input: body, binary: true })).stdout;
    return body;
  } catch (e) {
    throw new OtaError('ERR_OTA_INDEX', `cannot decompress ${where}: ${(e as Error).message}`, { cause: e });
  }
}
