import type { z } from 'zod';
import { OtaError } from '../common/errors.js';
import { DOCUMENT_SCHEMAS, MAX_DOCUMENT_BYTES, type DocumentKind, type DocumentOf } from './kinds.js';

/** The first schema issue in words, with its path: `packages[3].version: not a Debian version`. */
export function schemaProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid document';
  const path = issue.path.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : p === '' ? String(k) : `${p}.${String(k)}`), '');
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `${path === '' ? '(document)' : path}: ${issue.message}${more}`;
}

/**
 * Reads an unsigned document (status, event, telemetry, inventory; or a release or command already
 * taken out of its JWS) as `kind`, from its JSON text or bytes or an already-parsed value. Devices'
 * documents are untrusted: size, JSON and schema are checked, and unknown keys refused.
 *
 * @throws OtaError `ERR_OTA_DOCUMENT` naming what is wrong and where (the schema path).
 * @example
 * const status = parseDocument('Status', payloadBuffer);
 */
export function parseDocument<K extends DocumentKind>(kind: K, input: string | Uint8Array | object): DocumentOf<K> {
  const value = typeof input === 'string' || input instanceof Uint8Array ? decodeJson(kind, input) : input;
  const parsed = DOCUMENT_SCHEMAS[kind].safeParse(value);
  if (!parsed.success) {
    throw new OtaError('ERR_OTA_DOCUMENT', `invalid ${kind} document: ${schemaProblem(parsed.error)}`, { hint: 'the document must follow docs/contract.md' });
  }
  return parsed.data as DocumentOf<K>;
}

/**
 * parseDocument without throwing, for readers that handle a bad message and carry on (an MQTT
 * subscriber): the typed document, or the OtaError that parseDocument would throw.
 *
 * @example
 * const r = safeParseDocument('Event', payload);
 * if (!r.ok) log(r.error.message);
 */
export function safeParseDocument<K extends DocumentKind>(kind: K, input: string | Uint8Array | object): { ok: true; value: DocumentOf<K> } | { ok: false; error: OtaError } {
  try {
    return { ok: true, value: parseDocument(kind, input) };
  } catch (e) {
    if (e instanceof OtaError) return { ok: false, error: e };
    throw e;
  }
}

function decodeJson(kind: string, input: string | Uint8Array): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > MAX_DOCUMENT_BYTES) {
    throw new OtaError('ERR_OTA_DOCUMENT', `invalid ${kind} document: ${size} bytes, over the limit of ${MAX_DOCUMENT_BYTES}`);
  }
  try {
    const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new OtaError('ERR_OTA_DOCUMENT', `invalid ${kind} document: not UTF-8 JSON (${(e as Error).message})`);
  }
}
