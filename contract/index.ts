/**
 * The contract between the host tools and the device agent (docs/contract.md): MQTT topics, the
 * documents on the wire, their signatures and the keys that make them. It imports only common/
 * and npm packages, so both halves can import it.
 */
export { compareVersions, versionProblem } from '../common/dpkg-version.js';
export { API_VERSION, ID_PATTERN, LIMITS } from './fields.js';
export { topics, DEFAULT_TOPIC_PREFIX, type Topics } from './topics.js';
export {
  DEFAULT_EXPIRES_IN_SECONDS,
  DOCUMENT_SCHEMAS,
  JWS_TYP,
  MAX_DOCUMENT_BYTES,
  MAX_JWS_CHARS,
  type DocumentKind,
  type DocumentOf,
  type SignedDocuments,
  type SignedKind,
} from './kinds.js';
export {
  generateSigningKey,
  keyId,
  KEY_FILES,
  loadSigningKey,
  loadTrustedKeys,
  ostreeKeyText,
  privateJwk,
  type SigningKey,
  type TrustedKey,
  type TrustedKeys,
} from './keys.js';
export { signDocument, type SignOptions } from './sign.js';
export { readSigned, readUnverified, DEFAULT_CLOCK_SKEW_SECONDS, type ReadSignedOptions, type Verified } from './read-signed.js';
export { parseDocument, safeParseDocument, schemaProblem } from './parse.js';
export { releaseManifestSchema, type ReleaseManifest, type ReleaseDelta, type ReleaseChanges } from './documents/release.js';
export { commandSchema, type Command, type CommandAction, type CommandTarget } from './documents/command.js';
export { rolloutSchema, ROLLOUT_FULL, ROLLOUT_STATES, type Rollout, type RolloutState } from './documents/rollout.js';
export { rolloutBucket, inWave } from './rollout-bucket.js';
export { statusSchema, UPDATE_PHASES, type Status, type UpdatePhase, type DeploymentRef } from './documents/status.js';
export { eventSchema, EVENT_TYPES, type DeviceEvent, type EventType } from './documents/event.js';
export { telemetrySchema, type Telemetry } from './documents/telemetry.js';
export { inventorySchema, type Inventory } from './documents/inventory.js';
export { presenceSchema, type Presence } from './documents/presence.js';
