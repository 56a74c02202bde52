import { describe, expect, it } from 'vitest';
import type { ExecEvent, HttpEvent } from '../../../common/events.js';
import { Reporter } from '../../../host-tools/cli/reporter.js';

function stream(isTTY: boolean) {
  const chunks: string[] = [];
  const s = { isTTY, columns: 60, write: (c: string) => chunks.push(c) > 0 } as unknown as NodeJS.WriteStream;
  return { s, chunks };
}

describe('Reporter', () => {
  it('prints plain lines when not on a terminal', () => {
    const { s, chunks } = stream(false);
    const r = new Reporter(s);
    r.event({ phase: 'fetch', message: 'bookworm', current: 1, total: 3 });
    r.event({ phase: 'fetch', message: 'fetched InRelease', bytes: 2048 });
    expect(chunks).toEqual(['fetch [1/3]: bookworm\n', 'fetch: fetched InRelease (2.0 KiB)\n']);
  });

  it('redraws one status line with a bar on a terminal, and clears it', () => {
    const saved = process.env.CI;
    delete process.env.CI;
    try {
      const { s, chunks } = stream(true);
      const r = new Reporter(s);
      r.event({ phase: 'fetch', message: 'bookworm', current: 1, total: 2 });
      expect(chunks[0]).toBe(`\r\u001b[2K[${'#'.repeat(10)}${'.'.repeat(10)}] fetch [1/2]: bookworm`);
      r.clear();
      expect(chunks[1]).toBe('\r\x1b[2K');
    } finally {
      if (saved !== undefined) process.env.CI = saved;
    }
  });

  it('always prints warnings on their own line, even when quiet', () => {
    const { s, chunks } = stream(false);
    const r = new Reporter(s, { quiet: true });
    r.event({ phase: 'fetch', message: 'ignored' });
    r.event({ phase: 'fetch', message: 'skipping a source', level: 'warning' });
    expect(chunks).toEqual(['warning: skipping a source\n']);
  });

  it('shows subprocesses and HTTP requests only when verbose, each on its own line', () => {
    const exec: ExecEvent = { phase: 'exec', message: 'configure the image', program: 'sh', argv: ['sh', '-c', 'set -e\nmount x', 'sh'] };
    const http: HttpEvent = { phase: 'http', message: '404 Not Found', method: 'GET', url: 'http://127.0.0.1/x', status: 404 };
    const plain = stream(false);
    new Reporter(plain.s).event(exec);
    expect(plain.chunks).toEqual([]);
    const verbose = stream(false);
    const r = new Reporter(verbose.s, { quiet: true });
    r.configure({ verbose: true });
    r.event(exec);
    r.event(http);
    r.event({ phase: 'http', message: 'ECONNREFUSED', method: 'GET', url: 'http://127.0.0.1:9/y' });
    expect(verbose.chunks).toEqual([`exec: sh -c 'set -e'… sh (configure the image)\n`, 'http: GET http://127.0.0.1/x 404\n', 'http: GET http://127.0.0.1:9/y no response (ECONNREFUSED)\n']);
  });
});
