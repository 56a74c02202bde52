import type { z } from 'zod';
import { commandSchema, type Command } from './documents/command.js';
import { eventSchema } from './documents/event.js';
import { inventorySchema } from './documents/inventory.js';
import { releaseManifestSchema, type ReleaseManifest } from './documents/release.js';
import { statusSchema } from './documents/status.js';
import { telemetrySchema } from './documents/telemetry.js';

/** The documents that travel only signed (docs/contract.md, "Signed documents"). */
export type SignedKind = 'release' | 'command';

/** The JWS `typ` of each signed kind: a command is never accepted as a release, nor the reverse. */
export const JWS_TYP: Readonly<Record<SignedKind, string>> = {
  release: 'deb-ota-release+jws',
  command: 'deb-ota-command+jws',
};

/** What readSigned returns as `doc` for each kind. */
export interface SignedDocuments {
  release: ReleaseManifest;
  command: Command;
}

export const SIGNED_SCHEMAS: { [K in SignedKind]: z.ZodType<SignedDocuments[K]> } = {
  release: releaseManifestSchema,
  command: commandSchema,
};

/**
 * The largest compact JWS accepted per kind, checked before anything is decoded. A release lists
 * its packages (up to ~100 bytes each once base64url-encoded); a command is a few hundred bytes.
 */
export const MAX_JWS_CHARS: Readonly<Record<SignedKind, number>> = {
  release: 4 * 1024 * 1024,
  command: 16 * 1024,
};

/** Default lifetimes of signed documents, in seconds, when the signer does not choose one. */
export const DEFAULT_EXPIRES_IN_SECONDS: Readonly<Record<SignedKind, number>> = {
  release: 90 * 24 * 3600,
  command: 3600,
};

/** Every document kind, by its `kind` field, for documents read without a signature. */
export const DOCUMENT_SCHEMAS = {
  Release: releaseManifestSchema,
  Command: commandSchema,
  Status: statusSchema,
  Event: eventSchema,
  Telemetry: telemetrySchema,
  Inventory: inventorySchema,
} as const;
export type DocumentKind = keyof typeof DOCUMENT_SCHEMAS;
export type DocumentOf<K extends DocumentKind> = z.infer<(typeof DOCUMENT_SCHEMAS)[K]>;

/** The largest unsigned device document accepted (status, event, telemetry, inventory), in bytes. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
