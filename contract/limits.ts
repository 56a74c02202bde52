/**
 * The contract's constants that code without zod needs: the device agent's long-lived daemon checks
 * topics, sizes and JWS headers before anything else reads a message, and must not load a schema
 * library to do it (docs/contract.md, "Size limits"). fields.ts and kinds.ts re-export these, so
 * the rest of the code keeps importing them from `contract/`.
 */

export const API_VERSION = 'deb-ota/v1';

/**
 * Upper bounds of the documents' strings and arrays. Devices' documents are untrusted input, so
 * every string and array has one (docs/contract.md, "Size limits"): a hostile or broken device
 * cannot make the fleet's readers hold megabytes per message.
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

/** A device id, group or board: safe in an MQTT topic level and a file name (no `/`, `+`, `#`). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The documents that travel only signed (docs/contract.md, "Signed documents"). */
export type SignedKind = 'release' | 'command' | 'rollout';

/** The JWS `typ` of each signed kind: a command is never accepted as a release, nor the reverse. */
export const JWS_TYP: Readonly<Record<SignedKind, string>> = {
  release: 'deb-ota-release+jws',
  command: 'deb-ota-command+jws',
  rollout: 'deb-ota-rollout+jws',
};

/**
 * The largest compact JWS accepted per kind, checked before anything is decoded. A release lists
 * its packages (up to ~100 bytes each once base64url-encoded); a command or a rollout is a few hundred bytes.
 */
export const MAX_JWS_CHARS: Readonly<Record<SignedKind, number>> = {
  release: 4 * 1024 * 1024,
  command: 16 * 1024,
  rollout: 16 * 1024,
};

/** The largest unsigned device document accepted (status, event, telemetry, inventory, presence), in bytes. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
