/**
 * The whole agent as a separate process for the crash tests: `node --import tsx crash-agent.ts ROOT DIR
 * check|resume` (crash.int.test.ts runs it bundled, the same code in one file). It loads the device's configuration under ROOT and opens the agent as the daemon does
 * (`openAgent`), with the one hook the tests add: after save N (DIR/kill-at, counted across processes in
 * DIR/saves; `every` for all of them; `on-update` for every save made while the update's commit runs, as
 * an agent that crashes on the new deployment) it writes what it saved to DIR/killed-in (`<state> <log
 * length>`) and SIGKILLs itself. `check` starts an update as a poll does; `resume` is the daemon's start. It prints
 * the state it rests in.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openAgent } from '../../../device-agent/agent/open.js';
import { loadAgentConfig } from '../../../device-agent/config/load.js';
import type { AgentRecord } from '../../../device-agent/engine/record.js';

const [root, dir, mode] = process.argv.slice(2);
if (!root || !dir || (mode !== 'check' && mode !== 'resume')) throw new Error('usage: crash-agent.ts ROOT DIR check|resume');
const text = async (name: string) => (await readFile(join(dir, name), 'utf8').catch(() => '')).trim();

async function killNow(record: AgentRecord, saves: number): Promise<boolean> {
  const killAt = await text('kill-at');
  if (killAt === 'on-update') return record.update?.toCommit != null && (await agent.bootedCommit()) === record.update.toCommit;
  return killAt === 'every' || saves === Number(killAt);
}

async function onSaved(record: AgentRecord): Promise<void> {
  const saves = Number((await text('saves')) || '0') + 1;
  await writeFile(join(dir!, 'saves'), String(saves));
  if (!(await killNow(record, saves))) return;
  await writeFile(join(dir!, 'killed-in'), `${record.state} ${record.update?.log.length ?? 0}`);
  process.kill(process.pid, 'SIGKILL');
}

const { config } = await loadAgentConfig({ root });
const agent = await openAgent(config, { onSaved });
try {
  const r = mode === 'check' ? await agent.machine.check({ id: 'crash-1' }) : await agent.machine.resume();
  process.stdout.write(`${r.state}\n`);
} finally {
  agent.close();
}
