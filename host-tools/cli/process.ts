import { main } from './main.js';

/**
 * Runs `ota` as the process's own program (bin/ota.js). A reader that stops early
 * (`ota diff A B | head`) closes the pipe: further output is dropped and the run ends as it
 * would have, instead of dying on an unhandled EPIPE with a stack trace.
 *
 * @example
 * await runAsProcess(); // in bin/ota.js
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
