import type { Reporter, TextSink } from './reporter.js';

/**
 * What a command writes to, handed to it by main(): result lines on stdout, everything else
 * (progress, warnings, -v traces, errors) on stderr through the run's one reporter. Tests pass
 * collectors instead of the process's streams.
 */
export interface CliIo {
  /** One result line (stdout). */
  out: (line: string) => void;
  /** stderr. */
  err: TextSink;
  /** Renders library events to `err`; main() sets -q and -v on it before a command runs. */
  reporter: Reporter;
}
