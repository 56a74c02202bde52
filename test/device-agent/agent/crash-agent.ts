/**
 * The whole agent as a separate process for the crash tests: `node --import tsx crash-agent.ts ROOT DIR
 * check|resume` (crash.int.test.ts runs it bundled, the same code in one file). It loads the device's
 * configuration under ROOT and opens the agent as the daemon does (`openAgent`), with the hooks the tests
 * add. DIR/kill-at says when the process SIGKILLs itself, having written to DIR/killed-in the state of the
 * last record saved and the length of its log (`<state> <log length>`):
 * - `N`: right after save N (counted across processes in DIR/saves);
 * - `every`: after every save;
 * - `on-update`: after every save made while the update's commit runs (an agent that crashes there);
 * - `work:N`: right after the Nth state's work, before the record says so (counted across processes in
 *   DIR/works): the engine emits each transition before saving it, so this is a power cut between a side
 *   effect and its record.
 * - `ro:N`: right after save N, the file system mounted at DIR/ro-mount (the state directory's tmpfs) is
 *   remounted read-only, and the agent goes on until a write fails (readonly.int.test.ts).
 * `check` starts an update as a poll does; `resume` is the daemon's start. It prints the state it rests in.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../common/exec.js';
import { openAgent, type AgentOutEvent } from '../../../device-agent/agent/open.js';
import { loadAgentConfig } from '../../../device-agent/config/load.js';
import type { AgentRecord } from '../../../device-agent/engine/record.js';
import { EVENTS } from '../../../device-agent/engine/states.js';

const [root, dir, mode] = process.argv.slice(2);
if (!root || !dir || (mode !== 'check' && mode !== 'resume')) throw new Error('usage: crash-agent.ts ROOT DIR check|resume');
const text = (name: string) => {
  try {
    return readFileSync(join(dir, name), 'utf8').trim();
  } catch {
    return '';
  }
};
const count = (name: string) => {
  const n = Number(text(name) || '0') + 1;
  writeFileSync(join(dir, name), String(n));
  return n;
};
const killAt = text('kill-at');
let lastSaved: AgentRecord | null = null;

function die(): never {
  writeFileSync(join(dir!, 'killed-in'), `${lastSaved?.state} ${lastSaved?.update?.log.length ?? 0}`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('SIGKILL did not end the process');
}

async function onSaved(record: AgentRecord): Promise<void> {
  lastSaved = record;
  const saves = count('saves');
  if (killAt === 'every' || saves === Number(killAt)) die();
  if (killAt === `ro:${saves}`) await run('remount the state directory read-only', ['mount', '-o', 'remount,ro', text('ro-mount')]);
  if (killAt === 'on-update' && record.update?.toCommit != null && (await agent.bootedCommit()) === record.update.toCommit) die();
}

/** A transition of the table (not a resume or loop-breaker mark): the state's work is done, its record not yet saved. */
function emit(e: AgentOutEvent): void {
  if (e.phase !== 'agent' || !(EVENTS as readonly string[]).includes(e.event)) return;
  if (`work:${count('works')}` === killAt) die();
}

const { config } = await loadAgentConfig({ root });
const agent = await openAgent(config, { onSaved, emit });
lastSaved = await agent.store.load();
try {
  const r = mode === 'check' ? await agent.machine.check({ id: 'crash-1' }) : await agent.machine.resume();
  process.stdout.write(`${r.state}\n`);
} finally {
  agent.close();
}
