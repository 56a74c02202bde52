import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { createPidFile, processRuns } from '../../common/pid.js';

/**
 * One publish at a time per published directory: two at once would each plan against the same
 * previous release and the last summary written would miss the other's ref. The lock is a file
 * holding the publisher's pid; one left by a killed publish (its pid gone) is taken over, so a
 * kill never blocks the next run.
 *
 * @example
 * const release = await lockPublished('/srv/ota');
 * try { ... } finally { await release(); }
 */
export const LOCK_FILE = '.ota-publish.lock';


export async function lockPublished(root: string): Promise<() => Promise<void>> {
  await mkdir(root, { recursive: true });
  const path = join(root, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    const release = await createPidFile(path, 0o644);
    if (release !== null) return release;
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (processRuns(pid)) {
      throw new OtaError('ERR_OTA_PUBLISHED', `another ota publish (pid ${pid}) is writing ${root}`, { hint: `wait for it to end; if no such process runs, remove ${path}` });
    }
    await unlink(path).catch(() => {});
  }
  throw new OtaError('ERR_OTA_PUBLISHED', `cannot take the publish lock ${path}: another publish keeps taking it`, { hint: 'run one ota publish at a time per published directory' });
}
