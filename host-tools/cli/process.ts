import { ignoreClosedPipes } from '../../common/cli/closed-pipe.js';
import { main } from './main.js';

/**
 * Runs `ota` as the process's own program (bin/ota.js); a reader that stops early is not an
 * error (common/cli/closed-pipe.ts).
 *
 * @example
 * await runAsProcess(); // in bin/ota.js
 */
export async function runAsProcess(argv: string[] = process.argv): Promise<void> {
  ignoreClosedPipes();
  process.exitCode = await main(argv);
}
