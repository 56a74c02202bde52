import { OtaError } from './errors.js';

/**
 * `--json` output of both command-line tools, `ota` and `ota-agent`: one document on stdout per
 * run, nothing else there (progress and warnings stay on stderr). The documents' fields are
 * written down in docs/cli-json.md; a failure is `{ "error": { ... } }` whatever the command.
 *
 * @example
 * printJson(out, { lockPath, packages: 12 });
 */
export function printJson(out: (line: string) => void, doc: unknown): void {
  out(JSON.stringify(doc, null, 2));
}

export interface ErrorDocument {
  error: { code: string; message: string; hint: string | null; details: string[]; exitCode: number };
}

/** The document printed instead of a result when a `--json` run fails. */
export function errorDocument(e: unknown, exitCode: number): ErrorDocument {
  if (e instanceof OtaError) return { error: { code: e.code, message: e.message, hint: e.hint ?? null, details: e.details, exitCode } };
  return { error: { code: 'ERR_OTA_INTERNAL', message: e instanceof Error ? e.message : String(e), hint: null, details: [], exitCode } };
}

/** Whether this run asked for `--json` (looked for in argv because a failure can come before an action runs). */
export function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}
