import { OtaError } from '../../common/errors.js';
import { main } from '../../device-agent/cli/main.js';

/**
 * The agent's man page and shell completions for its package (docs/agent.md, "Packaging"), made by the CLI's own
 * `ota-agent man` and `ota-agent completion bash|zsh` from this checkout's command tree: the executable is
 * built from the same sources, and running it here would work only for the build machine's architecture.
 * The page is dated by SOURCE_DATE_EPOCH, so the package stays reproducible.
 *
 * @example
 * const { man, bash, zsh } = await agentCliPages(1700000000);
 */
export interface AgentCliPages {
  man: string;
  bash: string;
  zsh: string;
}

export async function agentCliPages(epochSeconds: number): Promise<AgentCliPages> {
  const before = process.env.SOURCE_DATE_EPOCH;
  process.env.SOURCE_DATE_EPOCH = String(epochSeconds);
  try {
    return { man: await cli('man'), bash: await cli('completion', 'bash'), zsh: await cli('completion', 'zsh') };
  } finally {
    if (before === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = before;
  }
}

async function cli(...args: string[]): Promise<string> {
  const out: string[] = [];
  let err = '';
  const code = await main(['node', 'ota-agent', ...args], { out: (l) => out.push(l), err: (t) => (err += t), now: () => new Date(0) });
  if (code !== 0) throw new OtaError('ERR_OTA_EXEC', `ota-agent ${args.join(' ')} exited with ${code}`, { details: err.trim().split('\n') });
  return `${out.join('\n')}\n`;
}
