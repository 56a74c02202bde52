import type { z } from 'zod';
import { commandSchema, type Command } from './documents/command.js';
import { eventSchema } from './documents/event.js';
import { inventorySchema } from './documents/inventory.js';
import { presenceSchema } from './documents/presence.js';
import { releaseManifestSchema, type ReleaseManifest } from './documents/release.js';
import { rolloutSchema, type Rollout } from './documents/rollout.js';
import { statusSchema } from './documents/status.js';
import { telemetrySchema } from './documents/telemetry.js';
import { type SignedKind } from './limits.js';

export { JWS_TYP, MAX_DOCUMENT_BYTES, MAX_JWS_CHARS, type SignedKind } from './limits.js';

/** What readSigned returns as `doc` for each kind. */
export interface SignedDocuments {
  release: ReleaseManifest;
  command: Command;
  rollout: Rollout;
}

export const SIGNED_SCHEMAS: { [K in SignedKind]: z.ZodType<SignedDocuments[K]> } = {
  release: releaseManifestSchema,
  command: commandSchema,
  rollout: rolloutSchema,
};

/** Default lifetimes of signed documents, in seconds, when the signer does not choose one. */
export const DEFAULT_EXPIRES_IN_SECONDS: Readonly<Record<SignedKind, number>> = {
  release: 90 * 24 * 3600,
  command: 3600,
  // As long as a release: a device that connects late must still find the group's rollout valid.
  rollout: 90 * 24 * 3600,
};

/** Every document kind, by its `kind` field, for documents read without a signature. */
export const DOCUMENT_SCHEMAS = {
  Release: releaseManifestSchema,
  Command: commandSchema,
  Rollout: rolloutSchema,
  Status: statusSchema,
  Event: eventSchema,
  Telemetry: telemetrySchema,
  Inventory: inventorySchema,
  Presence: presenceSchema,
} as const;
export type DocumentKind = keyof typeof DOCUMENT_SCHEMAS;
export type DocumentOf<K extends DocumentKind> = z.infer<(typeof DOCUMENT_SCHEMAS)[K]>;

