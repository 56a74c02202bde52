import { OtaError } from '../../common/errors.js';
import type { OtaEvent } from '../../common/events.js';

/**
 * Ctrl-C (SIGINT) and SIGTERM during a long command. The first one aborts the work through an
 * AbortSignal, so that it cleans up after itself (kills the build's namespace, removes the
 * stage-2 work directory, commits the debs it imported), and the command then fails with one
 * line saying what was interrupted and exits 130 or 143 (128 + the signal's number, as a shell
 * reports a process the signal ended). A second one ends the process at once.
 *
 * @example
 * const interrupt = catchInterrupts('ota build');
 * try { await build({ ..., onEvent: (e) => interrupt.track(e), signal: interrupt.signal }); } finally { interrupt.dispose(); }
 */
export interface Interrupt {
  signal: AbortSignal;
  /** Follows the work's events, to say what it was doing when interrupted. */
  track: (e: OtaEvent) => void;
  dispose: () => void;
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

export function catchInterrupts(command: string): Interrupt {
  const controller = new AbortController();
  let doing = 'starting';
  const handler = (sig: NodeJS.Signals) => {
    const exitCode = 128 + (SIGNALS[sig as keyof typeof SIGNALS] ?? 0);
    if (controller.signal.aborted) process.exit(exitCode);
    controller.abort(new OtaError('ERR_OTA_INTERRUPTED', `${command} interrupted by ${sig} while ${doing}`, { exitCode }));
  };
  for (const sig of Object.keys(SIGNALS)) process.on(sig, handler);
  return {
    signal: controller.signal,
    track: (e) => {
      doing = describeWork(e) ?? doing;
    },
    dispose: () => {
      for (const sig of Object.keys(SIGNALS)) process.off(sig, handler);
    },
  };
}

/** What an event says the work is doing, in the words of the interrupted line (and what is kept of it). */
export function describeWork(e: OtaEvent): string | undefined {
  switch (e.phase) {
    case 'lock':
    case 'resolve':
      return `locking ${e.manifest}`;
    case 'fetch':
      return 'downloading (the debs fetched so far stay in the cache)';
    case 'import':
      return `importing debs (${e.current ?? 0} of ${e.total ?? '?'} imported, and kept for the next run)`;
    case 'union':
      return `unpacking ${e.image}`;
    case 'configure':
      return `configuring ${e.image} (its work directory is removed)`;
    case 'commit':
      return `committing ${e.image}`;
    default:
      return undefined;
  }
}
