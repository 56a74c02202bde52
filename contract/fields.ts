import { z } from 'zod';
import { versionProblem } from '../common/dpkg-version.js';

/**
 * Field schemas every document shares. Devices' documents are untrusted input, so every string and
 * array has an upper bound (docs/contract.md, "Size limits"): a hostile or broken device cannot
 * make the fleet's readers hold megabytes per message.
 */
export const LIMITS = {
  /** Longest free-text field (a reason, an error message, a subject). */
  textChars: 2048,
  /** Longest identifier (device id, group, board, kid, nonce). */
  idChars: 64,
  versionChars: 128,
  refChars: 255,
  /** Packages in a release or an inventory: a full desktop has ~3000; 20000 leaves room. */
  packages: 20_000,
  deltas: 64,
  disks: 32,
  interfaces: 32,
} as const;

export const API_VERSION = 'deb-ota/v1';

/** A device id, group or board: safe in an MQTT topic level and a file name (no `/`, `+`, `#`). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

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
