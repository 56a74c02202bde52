import { join } from 'node:path';
import { start, type Started } from '../../common/exec.js';

/**
 * A long-running `ota` command as its own process (the CLI from the sources, `--json`): resolves
 * with the first line it printed on stdout, parsed, once it printed it; rejects with its stderr
 * if it exits first. `ota serve` and `ota fleet dashboard` print their addresses that way.
 *
 * @example
 * const p = await startOtaJsonLine<{ http: { url: string } }>('ota serve', ['serve', dir, '--json']);
 * p.child.kill('SIGTERM');
 */
export interface OtaJsonLineProcess<T> {
  /** The first stdout line, parsed as JSON. */
  doc: T;
  child: Started;
  /** What it wrote to stderr so far. */
  log: () => string;
}

const OTA = join(import.meta.dirname, 'ota-cli.ts');

export async function startOtaJsonLine<T>(what: string, args: string[]): Promise<OtaJsonLineProcess<T>> {
  const child = start(what, [process.execPath, '--import', 'tsx', OTA, ...args], { env: { ...process.env, CI: '1' } });
  let stdout = '';
  let stderr = '';
  child.onStderr((t) => (stderr += t));
  const first = new Promise<string>((resolve, reject) => {
    child.onStdout((t) => {
      stdout += t;
      const nl = stdout.indexOf('\n');
      if (nl >= 0) resolve(stdout.slice(0, nl));
    });
    void child.exited.then((r) => reject(new Error(`${what} exited (${r.code ?? r.signal}) before printing its first line:\n${r.stderr}`)), reject);
  });
  return { doc: JSON.parse(await first) as T, child, log: () => stderr };
}
