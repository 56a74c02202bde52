/**
 * Lets a CLI's output go to a reader that stops early (`ota diff A B | head`, `ota-agent status |
 * head -1`): once the pipe is closed, further output is dropped and the run ends as it would
 * have, instead of dying on an unhandled EPIPE with a stack trace. Any other stream error still
 * throws.
 *
 * @example
 * ignoreClosedPipes(); // first thing in runAsProcess
 */
export function ignoreClosedPipes(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
      throw e;
    });
  }
}
