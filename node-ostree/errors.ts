import { OtaError, type OtaErrorOptions } from '../common/errors.js';

/**
 * A libostree (GLib) error as a user-reachable error: the GError's domain, code and message,
 * plus the operation and the path it was about.
 *
 * @example
 * try { await Repo.open('/nope') } catch (e) {
 *   if (e instanceof OstreeError && e.domain === 'g-io-error-quark' && e.gcode === 1) … // not found
 * }
 */
export class OstreeError extends OtaError {
  /** GLib error domain, e.g. `g-io-error-quark`. */
  readonly domain: string;
  /** The GError code within its domain (G_IO_ERROR_NOT_FOUND = 1 ...). */
  readonly gcode: number;
  readonly operation: string;
  readonly path: string | undefined;
  /** libostree's own message, without our prefix. */
  readonly gmessage: string;

  constructor(operation: string, path: string | undefined, domain: string, gcode: number, gmessage: string, options: OtaErrorOptions = {}) {
    super('ERR_OTA_OSTREE', `${operation}${path ? ` (${path})` : ''}: ${gmessage}`, options);
    this.name = 'OstreeError';
    this.domain = domain;
    this.gcode = gcode;
    this.operation = operation;
    this.path = path;
    this.gmessage = gmessage;
  }

  /** G_IO_ERROR_NOT_FOUND, the one code callers branch on most. */
  get notFound(): boolean {
    return this.domain === 'g-io-error-quark' && this.gcode === 1;
  }
}
