/**
 * The TypeScript API of the host tools: everything the `ota` CLI does, for a larger build
 * system to drive (as apt2ostree is driven from a configure script). Each call reports progress
 * through an optional `onEvent` sink and fails with an `OtaError` (stable `code`, `hint`,
 * `exitCode`); nothing here prints.
 *
 * @example
 * import { lock, build, diffImages } from 'deb-ota';
 * await lock({ manifestPath: 'image.yaml' });
 * const { images } = await build({ inputs: ['image.lock'], repoPath: 'repo', jobs: 4 });
 * console.log(images[0].ref, images[0].checksum);
 */
export { lock, defaultLockPath, type LockOptions, type LockResult } from './lock/lock.js';
export { checkLock } from './lock/check.js';
export { explainPackage, type Explanation, type ExplainStep } from './lock/explain.js';
export { readLock, diffLocks, formatDiff, type Lock, type LockDiff, type LockHeader } from './lock/lockfile.js';
export { loadManifest, parseManifest } from './manifest/load.js';
export type { Manifest, SourceSpec } from './manifest/schema.js';
export { importMultistrap, multistrapToManifest, type ImportOptions, type ImportResult } from './import/multistrap.js';
export { build, RECIPE_VERSION, type BuildOptions, type BuildResult, type ImageBuild } from './compose/build.js';
export { diffImages, type ImageDiff } from './compose/diff.js';
export type { FileConflict } from './compose/stage1.js';
export { loadBoard, listBoards, parseBoard, type LoadedBoard } from './board/load.js';
export type { Board } from './board/schema.js';
export { makeImage, type ImageOptions, type ImageResult } from './image/disk-image.js';
export { planDisk, type DiskPlan } from './image/disk-plan.js';
export { flash, verifyTarget } from './image/flash.js';
export { createBmap, writeBmap, readBmap } from './image/bmap.js';
export { publish, type PublishOptions, type PublishResult } from './publish/publish.js';
export { releaseLog, type LogEntry } from './publish/log.js';
export { OtaError, formatError, type OtaErrorCode } from '../common/errors.js';
export type { OtaEvent, EventSink } from '../common/events.js';
