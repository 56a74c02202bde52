import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import type { OtaError } from '../../common/errors.js';

/**
 * A worker's JSON state file read with its schema: undefined when the file is missing, the
 * error `broken` makes when it cannot be read or parsed. A broken file is never taken as empty:
 * forgetting what it held would let a replayed nonce or an old wave back in.
 *
 * @example
 * const doc = await readStateFile(path, seenSchema, (why, cause) => new OtaError('ERR_OTA_STATE', `${path}: ${why}`, { cause }));
 */
export async function readStateFile<S extends z.ZodTypeAny>(path: string, schema: S, broken: (why: string, cause: unknown) => OtaError): Promise<z.infer<S> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw broken(`cannot read it: ${(e as Error).message}`, e);
  }
  try {
    return schema.parse(JSON.parse(text)) as z.infer<S>;
  } catch (e) {
    throw broken('it does not parse', e);
  }
}
