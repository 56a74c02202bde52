import { progressOf, type ExecEvent, type HttpEvent, type OtaEvent } from '../../common/events.js';
import { formatArgv } from '../../common/argv.js';
import { formatBytes } from '../../common/units.js';

/** Where the reporter writes: process.stderr, or a test's collector (main()'s `err`). */
export interface TextSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ReporterOptions {
  /** Only warnings (and, with verbose, the traces). */
  quiet?: boolean;
  /** Also each subprocess and HTTP request (`-v`). */
  verbose?: boolean;
}

/**
 * Renders library events for a person: on a TTY one status line redrawn in place (with a
 * count or bar when the event carries one), elsewhere plain lines. Warnings, and with `-v` each
 * subprocess and HTTP request, always get a line of their own. Everything goes to stderr so
 * stdout stays for results.
 */
export class Reporter {
  private readonly tty: boolean;
  private statusShown = false;
  private options: ReporterOptions;

  constructor(
    private readonly stream: TextSink = process.stderr,
    options: ReporterOptions = {},
  ) {
    this.tty = Boolean(stream.isTTY) && process.env.CI === undefined;
    this.options = { ...options };
  }

  /** Set once the command line is parsed (the global -v, a command's -q). */
  configure(options: ReporterOptions): void {
    this.options = { ...this.options, ...options };
  }

  event = (e: OtaEvent): void => {
    if (e.phase === 'exec' || e.phase === 'http') {
      if (this.options.verbose) this.line(traceLine(e));
      return;
    }
    if (e.level === 'warning') {
      this.line(`warning: ${e.message}`);
      return;
    }
    if (this.options.quiet) return;
    const p = progressOf(e);
    const count = p.total ? ` [${p.current ?? 0}/${p.total}]` : '';
    const size = p.bytes !== undefined ? ` (${formatBytes(p.bytes)})` : '';
    const line = `${e.phase}${count}: ${e.message}${size}`;
    if (this.tty) {
      const width = (this.stream.columns ?? 100) - 1;
      const bar = p.total ? `${progressBar((p.current ?? 0) / p.total)} ` : '';
      this.stream.write(`\r\x1b[2K${(bar + line).slice(0, width)}`);
      this.statusShown = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  };

  /** A line of its own, below the status line (which the next event redraws). */
  line(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  /** Ends the status line before a summary or an error is printed. */
  clear(): void {
    if (this.tty && this.statusShown) {
      this.stream.write('\r\x1b[2K');
      this.statusShown = false;
    }
  }
}

/** `exec: gpgv --keyring k f (verify InRelease)`, `http: GET https://... 200`. */
function traceLine(e: ExecEvent | HttpEvent): string {
  if (e.phase === 'exec') return `exec: ${formatArgv(e.argv)} (${e.message})`;
  return `http: ${e.method} ${e.url} ${e.status ?? `no response (${e.message})`}`;
}

function progressBar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
