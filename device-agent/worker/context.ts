/**
 * What every worker job shares (docs/agent.md, "The worker protocol"): the configuration, the JSON-lines writer,
 * the status feed, the journal on stderr, the stop request of a SIGTERM, and the agent opened with its saves and
 * fetches wired to the feed. Also the job's input: stdin read whole (bounded), decoded as strict UTF-8.
 *
 * @example
 * await withWorkerAgent(ctx, (agent) => agent.machine.resume());
 */
import { OtaError } from '../../common/errors.js';
import { MAX_JWS_CHARS, type Inventory } from '../../contract/index.js';
import type { Stopper } from '../agent/daemon.js';
import { eventText, fetchThrottle, journalLine, type Level } from '../agent/journal.js';
import { openAgent, type Agent } from '../agent/open.js';
import type { AgentConfig } from '../config/schema.js';
import type { StatusFeed } from './feed.js';
import { inventoryChanged, inventoryPublished, readInventory } from './inventory.js';
import type { LineWriter } from './lines.js';

export interface WorkerContext {
  config: AgentConfig;
  lines: LineWriter;
  feed: StatusFeed;
  /** A journal line on stderr (sd-daemon priority prefix). */
  log: (level: Level, text: string) => void;
  now: () => Date;
  stopper: Stopper;
}

/** A journal writer over `err` (the worker's stderr goes straight to the journal). */
export function journalOf(err: (text: string) => void): WorkerContext['log'] {
  return (level, text) => err(`${journalLine({ level, text })}\n`);
}

/** Opens the agent with its engine events in the journal, its saves and fetches feeding status lines; closes it after `work`. */
export async function withWorkerAgent<T>(ctx: WorkerContext, work: (agent: Agent) => Promise<T>): Promise<T> {
  const pass = fetchThrottle();
  const agent = await openAgent(ctx.config, {
    emit: (e) => {
      if (e.phase === 'fetch') ctx.feed.fetched(e);
      if (pass(e, Date.now())) {
        const t = eventText(e);
        ctx.log(t.level, t.text);
      }
    },
    onSaved: (record) => ctx.feed.saved(record),
    shouldStop: () => ctx.stopper.stopped,
  });
  try {
    return await work(agent);
  } finally {
    await agent.settled();
    agent.close();
  }
}

/** The inventory line, when it changed since the last one published or `force`; the digest is written after the line. */
export async function reportInventory(ctx: WorkerContext, agent: Agent, force: boolean): Promise<void> {
  await agent.sysroot.load();
  const inv: Inventory | null = await readInventory({ config: ctx.config, sysroot: agent.sysroot, bootedCommit: await agent.bootedCommit(), now: ctx.now() });
  if (inv === null) {
    if (force) ctx.log('warning', 'no inventory: the running deployment is unknown or has no dpkg database');
    return;
  }
  if (!force && !(await inventoryChanged(ctx.config.stateDir, inv))) return;
  ctx.lines.write({ type: 'inventory', doc: inv });
  await inventoryPublished(ctx.config.stateDir, inv);
}

/** Why a signed input was refused, as the short reason an event starts with (readSigned's codes, docs/contract.md). */
const SIGNED_REASONS: Readonly<Record<string, string>> = {
  ERR_OTA_JWS_TOO_LARGE: 'too-large',
  ERR_OTA_JWS_MALFORMED: 'malformed',
  ERR_OTA_JWS_ALG: 'alg',
  ERR_OTA_JWS_TYP: 'typ',
  ERR_OTA_JWS_KID: 'kid',
  ERR_OTA_JWS_SIGNATURE: 'signature',
  ERR_OTA_JWS_NO_EXPIRY: 'expiry',
  ERR_OTA_JWS_CLAIMS: 'claims',
  ERR_OTA_JWS_EXPIRED: 'expired',
  ERR_OTA_JWS_NOT_YET_VALID: 'not-yet-valid',
  ERR_OTA_DOCUMENT: 'schema',
};

/** The reason of a readSigned refusal (`expired: signed command refused: ...`), or null for any other error. */
export function signedRefusal(e: unknown): string | null {
  if (!(e instanceof OtaError)) return null;
  const short = SIGNED_REASONS[e.code];
  return short === undefined ? null : `${short}: ${e.message}`;
}

/**
 * The job's input: stdin to its end, at most the largest signed document and one byte more (readSigned then
 * refuses it as too large), decoded as strict UTF-8. Null when the bytes are not UTF-8.
 */
export async function readInput(stream: AsyncIterable<Buffer | string> = process.stdin, max = MAX_JWS_CHARS.release): Promise<string | null> {
  const limit = max + 1;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    chunks.push(b);
    size += b.length;
    if (size >= limit) break;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks).subarray(0, limit));
  } catch {
    return null;
  }
}
