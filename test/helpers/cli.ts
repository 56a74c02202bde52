/**
 * Runs the `ota` CLI in-process through `main()`: what it printed on stdout (lines), on stderr
 * (progress, warnings, the error) and its exit code.
 *
 * @example
 * const r = await ota('lock', '--check', manifest);
 * expect(r.code).toBe(3);
 */
import { main } from '../../host-tools/cli/main.js';

export interface CliResult {
  code: number;
  out: string[];
  err: string;
}

export async function ota(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'ota', ...args], (l) => out.push(l), { write: (s: string) => err.push(s) });
  return { code, out, err: err.join('') };
}
