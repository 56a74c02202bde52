import { z } from 'zod';
import { versionProblem } from '../common/dpkg-version.js';
import { API_VERSION, ID_PATTERN, LIMITS } from './limits.js';

// Field schemas every document shares, bounded by LIMITS (docs/contract.md, "Size limits"). The
// constants live in limits.ts, which loads no zod; they are re-exported here for the schemas' readers.
export { API_VERSION, ID_PATTERN, LIMITS } from './limits.js';

export const id = z.string().min(1).max(LIMITS.idChars).regex(ID_PATTERN, 'letters, digits, ".", "_" and "-", starting with a letter or digit');
export const text = z.string().max(LIMITS.textChars);
export const commit = z.string().regex(/^[0-9a-f]{64}$/, 'an OSTree checksum: 64 lowercase hex digits');
/** An OSTree ref, as ostree's own grammar allows (slash-separated components). */
export const ref = z
  .string()
  .min(1)
  .max(LIMITS.refChars)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/, 'an OSTree ref such as gateway/stable');
/** A Debian version: releases and packages order with dpkg's rules (docs/contract.md, "Versions"). */
export const version = z
  .string()
  .min(1)
  .max(LIMITS.versionChars)
  .superRefine((v, ctx) => {
    const problem = versionProblem(v);
    if (problem !== undefined || v.trim() !== v) ctx.addIssue({ code: 'custom', message: `not a Debian version: ${problem ?? 'surrounding blanks'}` });
  });
export const arch = z.string().min(1).max(32).regex(/^[a-z0-9][a-z0-9-]*$/, 'a Debian architecture such as arm64');
export const packageName = z.string().min(1).max(128).regex(/^[a-z0-9][a-z0-9+.-]*$/, 'a Debian package name');
export const time = z.iso.datetime({ offset: true });
export const bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** One installed or published package. */
export const packageEntry = z.strictObject({ name: packageName, version, arch });

/** The fields that say what a document is. */
export function header<K extends string>(kind: K) {
  return { apiVersion: z.literal(API_VERSION), kind: z.literal(kind) };
}
