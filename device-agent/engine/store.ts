/**
 * The state store (docs/agent.md, "The state machine"): the record in `<stateDir>/state.json`, written
 * atomically (temp file, fsync, rename, fsync of the directory: common/atomic-write.ts) so that a power cut
 * leaves the old record or the new one, never a torn one, and read back on start. Every save goes through the
 * loop breaker (record.ts, countSave), so no sequence of saves, however buggy the caller, runs forever.
 *
 * @example
 * const store = new StateStore({ dir: '/var/lib/ota' });
 * let record = await store.load();           // the initial record on a device that never updated
 * record = await store.save(record, new Date());
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';
import { agentRecordSchema, countSave, initialRecord, type AgentRecord } from './record.js';

export const STATE_FILE = 'state.json';

export interface StateStoreOptions {
  /** The agent's state directory (`/var/lib/ota` on a device, a temp dir in tests). */
  dir: string;
}

export class StateStore {
  readonly dir: string;
  readonly path: string;

  constructor(options: StateStoreOptions) {
    this.dir = options.dir;
    this.path = join(options.dir, STATE_FILE);
  }

  /**
   * The record on disk, or the initial record when there is none yet. A record that does not parse is an
   * error, not a reason to start afresh: forgetting an update in progress would leave an armed bootloader
   * and a half-applied deployment that nobody finishes.
   */
  async load(): Promise<AgentRecord> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (isMissing(e)) return initialRecord();
      throw new OtaError('ERR_OTA_STATE', `cannot read the agent's state record ${this.path}: ${fsReason(e)}`, { cause: e });
    }
    return parseRecord(text, this.path);
  }

  /**
   * Counts the save (the loop breaker may change the state it saves: see record.ts, countSave), writes the
   * record atomically and returns what was written, which the caller continues from. Throws an OtaError and
   * leaves the previous record in place when the write fails (a full or read-only file system).
   */
  async save(record: AgentRecord, at: Date): Promise<AgentRecord> {
    const next = agentRecordSchema.parse(countSave(record, at));
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    } catch (e) {
      throw new OtaError('ERR_OTA_IO', `cannot save the agent's state record ${this.path}: ${fsReason(e)}`, {
        hint: 'the agent stops before any further step; free space or make the state directory writable, then restart it',
        cause: e,
      });
    }
    return next;
  }

  /** Removes temp files a crash left between write and rename (they are never read). */
  async removeLeftovers(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (isMissing(e)) return [];
      throw e;
    }
    const leftovers = names.filter((n) => n.startsWith(`.${STATE_FILE}.`) && n.endsWith('.tmp'));
    for (const n of leftovers) await unlink(join(this.dir, n)).catch(() => {});
    return leftovers;
  }
}

/** Parses a state record's text; an OtaError naming the file and the first problem otherwise. */
export function parseRecord(text: string, where: string): AgentRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badRecord(where, `not JSON (${(e as Error).message})`);
  }
  const parsed = agentRecordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(top)';
    throw badRecord(where, `${path}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function badRecord(where: string, problem: string): OtaError {
  return new OtaError('ERR_OTA_STATE', `the agent's state record ${where} is not valid: ${problem}`, {
    hint: 'the record is written by the agent only; move the file aside to start from idle (check `ota-agent status` and the bootloader state first)',
  });
}
