import { z } from 'zod';
import { bytes, commit, header, id, text, time, version } from '../fields.js';

/**
 * Where a device is in an update (docs/contract.md, "Status"). `downloaded` waits to be applied:
 * downloaded only, or outside the maintenance window.
 */
export const UPDATE_PHASES = [
  'idle',
  'checking',
  'downloading',
  'downloaded',
  'staging',
  'staged',
  'rebooting',
  'verifying',
  'committed',
  'rolling-back',
  'rolled-back',
  'failed',
] as const;
export const updatePhase = z.enum(UPDATE_PHASES);

/** One deployment: its version (null when the commit carries none) and commit. */
export const deploymentRef = z.strictObject({ version: version.nullable(), commit });

export const statusError = z.strictObject({ code: z.string().min(1).max(64), message: text, at: time });

/**
 * A device's retained status document.
 *
 * @example
 * const s: Status = statusSchema.parse(JSON.parse(payload));
 */
export const statusSchema = z.strictObject({
  ...header('Status'),
  device: id,
  /** The group whose release the device follows, so `ota fleet status --group` can pick its devices; optional: agents before it left it out. */
  group: id.optional(),
  agentVersion: z.string().min(1).max(64),
  updatedAt: time,
  deployments: z.strictObject({
    booted: deploymentRef.nullable(),
    staged: deploymentRef.nullable(),
    rollback: deploymentRef.nullable(),
  }),
  phase: updatePhase,
  /** The update in progress (the release's version or the command's nonce), null when idle. */
  updateId: z.string().min(1).max(128).nullable(),
  progress: z.strictObject({ doneBytes: bytes, totalBytes: bytes.nullable() }).nullable(),
  lastError: statusError.nullable(),
});

export type Status = z.infer<typeof statusSchema>;
export type UpdatePhase = z.infer<typeof updatePhase>;
export type DeploymentRef = z.infer<typeof deploymentRef>;
