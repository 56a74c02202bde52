import type { OtaEvent } from '../../common/events.js';
import { formatBytes } from '../../common/units.js';

/**
 * Renders library events for a person: on a TTY one status line redrawn in place (with a
 * count or bar when the event carries one), elsewhere plain lines. Warnings always get a line
 * of their own. Everything goes to stderr so stdout stays for results.
 */
export class Reporter {
  private readonly tty: boolean;
  private statusShown = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(stream.isTTY) && process.env.CI === undefined;
  }

  event = (e: OtaEvent): void => {
    if (e.level === 'warning') {
      this.clear();
      this.stream.write(`warning: ${e.message}\n`);
      return;
    }
    if (this.quiet) return;
    const count = e.total ? ` [${e.current ?? 0}/${e.total}]` : '';
    const size = e.bytes !== undefined ? ` (${formatBytes(e.bytes)})` : '';
    const line = `${e.phase}${count}: ${e.message}${size}`;
    if (this.tty) {
      const width = (this.stream.columns ?? 100) - 1;
      const bar = e.total ? `${progressBar((e.current ?? 0) / e.total)} ` : '';
      this.stream.write(`\r\x1b[2K${(bar + line).slice(0, width)}`);
      this.statusShown = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  };

  /** Ends the status line before a summary or an error is printed. */
  clear(): void {
    if (this.tty && this.statusShown) {
      this.stream.write('\r\x1b[2K');
      this.statusShown = false;
    }
  }
}

function progressBar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
