/**
 * Runs the `ota` CLI in-process through `main()`: what it printed on stdout (lines), on stderr
 * (progress, warnings, the error) and its exit code.
 *
 * @example
 * const r = await ota('lock', '--check', manifest);
 * expect(r.code).toBe(3);
 */
import { vi } from 'vitest';
import { main } from '../../host-tools/cli/main.js';

export interface CliResult {
  code: number;
  out: string[];
  err: string;
}

export async function ota(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
  try {
    const code = await main(['node', 'ota', ...args], (l) => out.push(l));
    return { code, out, err: err.join('') };
  } finally {
    spy.mockRestore();
  }
}
