import { config as zodConfig } from 'zod';
import { ignoreClosedPipes } from '../../common/cli/closed-pipe.js';
import { main } from './main.js';

/**
 * Runs `ota-agent` as the process's own program (bin/ota-agent.js); a reader that stops early
 * (`ota-agent status | head -1`) is not an error (common/cli/closed-pipe.ts).
 *
 * @example
 * await runAsProcess(); // in bin/ota-agent.js
 */
export async function runAsProcess(argv: string[] = process.argv): Promise<void> {
  zodConfig({ jitless: true });
  ignoreClosedPipes();
  process.exitCode = await main(argv);
}
