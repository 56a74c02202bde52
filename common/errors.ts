/**
 * The one error class for anything a user can reach (docs/conventions.md, "Errors"). Broken invariants are plain
 * `Error("... this is a bug")`; everything else is an `OtaError` with a stable code, a message that
 * says what was wrong and where, a hint that says what to do, and an exit code.
 *
 * @example
 * throw new OtaError('ERR_OTA_MANIFEST', 'unknown key `pakages` (image.yaml:3)', {
 *   hint: 'did you mean `packages`?',
 * });
 */
export type OtaErrorCode =
  | 'ERR_OTA_USAGE'
  | 'ERR_OTA_MANIFEST'
  | 'ERR_OTA_SOURCES'
  | 'ERR_OTA_FETCH'
  | 'ERR_OTA_MQTT'
  | 'ERR_OTA_SIGNATURE'
  | 'ERR_OTA_HASH'
  | 'ERR_OTA_INDEX'
  | 'ERR_OTA_UNKNOWN_PACKAGE'
  | 'ERR_OTA_UNSATISFIABLE'
  | 'ERR_OTA_LOCKFILE'
  | 'ERR_OTA_LOCK_STALE'
  | 'ERR_OTA_IMPORT'
  | 'ERR_OTA_EXEC'
  | 'ERR_OTA_OSTREE'
  | 'ERR_OTA_IO'
  | 'ERR_OTA_PUBLISHED'
  | 'ERR_OTA_VERIFY'
  | 'ERR_OTA_BUNDLE'
  | 'ERR_OTA_SCRIPT'
  | 'ERR_OTA_CONFLICT'
  | 'ERR_OTA_EMULATION'
  | 'ERR_OTA_BUILD'
  | 'ERR_OTA_BOOTENV'
  | 'ERR_OTA_BOOTLOADER'
  | 'ERR_OTA_BOARD'
  | 'ERR_OTA_BMAP'
  | 'ERR_OTA_FLASH'
  | 'ERR_OTA_INTERRUPTED'
  // the device agent (docs/agent.md): its configuration, its state record and transitions
  | 'ERR_OTA_AGENT_CONFIG'
  | 'ERR_OTA_STATE'
  | 'ERR_OTA_ROLLOUT_HALTED'
  // something asked for by name is not there (a release version at the remote)
  | 'ERR_OTA_NOT_FOUND'
  // a release it will not apply (docs/agent.md, "Applying an update")
  | 'ERR_OTA_REFUSED'
  // a fleet command the devices did not confirm: refused, failed, or no answer in time (docs/fleet.md)
  | 'ERR_OTA_NOT_CONFIRMED'
  // the contract: keys, signed and unsigned documents (docs/contract.md, "What readSigned checks")
  | 'ERR_OTA_KEY'
  | 'ERR_OTA_DOCUMENT'
  | 'ERR_OTA_JWS_TOO_LARGE'
  | 'ERR_OTA_JWS_MALFORMED'
  | 'ERR_OTA_JWS_ALG'
  | 'ERR_OTA_JWS_TYP'
  | 'ERR_OTA_JWS_KID'
  | 'ERR_OTA_JWS_SIGNATURE'
  | 'ERR_OTA_JWS_NO_EXPIRY'
  | 'ERR_OTA_JWS_CLAIMS'
  | 'ERR_OTA_JWS_EXPIRED'
  | 'ERR_OTA_JWS_NOT_YET_VALID';

/** Exit codes: 1 for a failed operation, 2 for bad usage or input, 3 for a stale lock (a check, not a failure). */
export const EXIT = { failure: 1, usage: 2, stale: 3 } as const;

const defaultExit: Partial<Record<OtaErrorCode, number>> = {
  ERR_OTA_USAGE: EXIT.usage,
  ERR_OTA_MANIFEST: EXIT.usage,
  ERR_OTA_PUBLISHED: EXIT.usage,
  ERR_OTA_BUNDLE: EXIT.usage,
  ERR_OTA_UNKNOWN_PACKAGE: EXIT.usage,
  ERR_OTA_BOARD: EXIT.usage,
  ERR_OTA_LOCKFILE: EXIT.usage,
  ERR_OTA_LOCK_STALE: EXIT.stale,
  ERR_OTA_BMAP: EXIT.usage,
  ERR_OTA_KEY: EXIT.usage,
  // A signed or device document handed to a command is its input: a bad one is bad input.
  ERR_OTA_DOCUMENT: EXIT.usage,
  ERR_OTA_JWS_TOO_LARGE: EXIT.usage,
  ERR_OTA_JWS_MALFORMED: EXIT.usage,
  ERR_OTA_JWS_ALG: EXIT.usage,
  ERR_OTA_JWS_TYP: EXIT.usage,
  ERR_OTA_JWS_KID: EXIT.usage,
  ERR_OTA_JWS_SIGNATURE: EXIT.usage,
  ERR_OTA_JWS_NO_EXPIRY: EXIT.usage,
  ERR_OTA_JWS_CLAIMS: EXIT.usage,
  ERR_OTA_JWS_EXPIRED: EXIT.usage,
  ERR_OTA_JWS_NOT_YET_VALID: EXIT.usage,
  ERR_OTA_AGENT_CONFIG: EXIT.usage,
};

export interface OtaErrorOptions {
  hint?: string;
  exitCode?: number;
  cause?: unknown;
  /** Extra lines of detail printed after the message (a dependency chain, a tool's output). */
  details?: string[];
}

export class OtaError extends Error {
  readonly code: OtaErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly details: string[];

  constructor(code: OtaErrorCode, message: string, options: OtaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OtaError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? defaultExit[code] ?? EXIT.failure;
    this.details = options.details ?? [];
  }
}

/**
 * Adds context on the way up (docs/conventions.md, "Errors"): returns an error whose message is prefixed with
 * `context: `, keeping code, hint, exit code and details. Non-OtaErrors are wrapped as causes.
 *
 * @example
 * try { await fetchIndex(src) } catch (e) { throw withContext(e, `source ${src.uri}`) }
 */
export function withContext(err: unknown, context: string): Error {
  if (err instanceof OtaError) {
    const wrapped = new OtaError(err.code, `${context}: ${err.message}`, {
      hint: err.hint,
      exitCode: err.exitCode,
      details: err.details,
      cause: err.cause,
    });
    wrapped.stack = err.stack;
    return wrapped;
  }
  if (err instanceof Error) return new Error(`${context}: ${err.message}`, { cause: err });
  return new Error(`${context}: ${String(err)}`);
}

/** Renders an error for a person: message, details, hint. Used once, by the CLI entry point. */
export function formatError(err: unknown): string {
  if (err instanceof OtaError) {
    const lines = [`error: ${err.message}`];
    for (const d of err.details) lines.push(`  ${d}`);
    if (err.hint) lines.push(`hint: ${err.hint}`);
    return lines.join('\n');
  }
  if (err instanceof Error) return `internal error: ${err.stack ?? err.message}`;
  return `internal error: ${String(err)}`;
}
