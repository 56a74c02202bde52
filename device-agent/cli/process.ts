import { main } from './main.js';

/**
 * Runs `ota-agent` as the process's own program (bin/ota-agent.js). A reader that stops early
 * (`ota-agent status | head -1`) closes the pipe: further output is dropped instead of the run
 * dying on an unhandled EPIPE.
 *
 * @example
 * await runAsProcess(); // in bin/ota-agent.js
 */
export async function runAsProcess(argv: string[] = process.argv): Promise<void> {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
      throw e;
    });
  }
  process.exitCode = await main(argv);
}
