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
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';
import { processRuns } from '../../common/pid.js';
import { agentRecordSchema, countSave, initialRecord, type AgentRecord } from './record.js';

export const STATE_FILE = 'state.json';
/** Held by the process running the machine: one update at a time (docs/agent.md, "The state machine"). */
export const LOCK_FILE = 'agent.lock';

/** Locks this process holds: a lock file with our own pid that is not here is one we failed to remove. */
const heldHere = new Set<string>();

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

  /**
   * Takes the agent's lock: a file holding this process's pid, created exclusively. One left by a process that
   * no longer runs (a SIGKILL, a power cut) is taken over, so a crash never blocks the restarted agent; one
   * held by a running process is an OtaError. Returns the function that releases it.
   */
  async lock(): Promise<() => Promise<void>> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        heldHere.add(path);
        return async () => {
          heldHere.delete(path);
          await unlink(path).catch(() => {});
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new OtaError('ERR_OTA_IO', `cannot take the agent's lock ${path}: ${fsReason(e)}`, { cause: e });
        }
        const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        const ours = pid === process.pid && !heldHere.has(path); // left when a read-only file system refused the unlink
        if (processRuns(pid) && !ours) {
          throw new OtaError('ERR_OTA_STATE', `another ota-agent (pid ${pid}) is working on ${this.dir}`, {
            hint: 'one update at a time: wait for it (`ota-agent status`); if no such process runs, remove the lock file',
          });
        }
        // A stale lock that cannot go (a read-only state directory) is that, not another process taking it.
        await unlink(path).catch((e: unknown) => {
          if (isMissing(e)) return;
          throw new OtaError('ERR_OTA_IO', `cannot take the agent's lock ${path}: the stale lock of pid ${pid} cannot be removed: ${fsReason(e)}`, {
            hint: 'make the state directory writable, then restart the agent',
            cause: e,
          });
        });
      }
    }
    throw new OtaError('ERR_OTA_STATE', `cannot take the agent's lock ${path}: another process keeps taking it`, { hint: 'run one ota-agent at a time' });
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
