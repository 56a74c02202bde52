import { statfs, stat } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { compareVersions, readSigned, type ReleaseManifest, type TrustedKeys } from '../../contract/index.js';
import { currentDeployment, type CurrentCommit } from './current.js';
import type { Sysroot } from '../../node-ostree/index.js';

/**
 * The checks before anything is downloaded (docs/agent.md, "Applying an update"): the release
 * must verify with a trusted key, be for this board and architecture, be above the anti-rollback
 * floor and (unless a downgrade was asked for) above the running version, and the disk must hold
 * it. Pure checks over data (`checkRelease`), then a thin shell that reads the signature, the
 * sysroot and statfs. Nothing is written: a refusal changes nothing.
 *
 * @example
 * const plan = await preflight({ jws, trusted, sysroot, device: { board: 'rpi4', arch: 'arm64' }, downloadDir });
 */
export type RefusalReason = 'board' | 'arch' | 'floor' | 'version' | 'current' | 'disk' | 'no-rollback' | 'bundle';

export interface DeviceIdentity {
  board: string;
  arch: string;
}

export interface PreflightInput {
  /** The release manifest as received (compact JWS; surrounding whitespace, as a file ends with, is ignored). */
  jws: string;
  trusted: TrustedKeys;
  /** A loaded sysroot: its booted deployment (or, in a sysroot that is not booted, the default one) is what runs now. */
  sysroot: Sysroot;
  device: DeviceIdentity;
  /** Where download() keeps the delta files (checked for space alongside the sysroot). */
  downloadDir: string;
  options?: PreflightOptions;
}

export interface PreflightOptions {
  /** The highest floor this device has accepted so far; the release's own minVersion applies too. */
  floor?: string | null;
  /** Accept a release at or below the running version (a deliberate rollback release); never below the floor. */
  allowDowngrade?: boolean;
  /** Bytes that must stay free once the update is on disk (default 0). */
  reserveBytes?: number;
  /** The commit running now when the caller knows it (the agent's view); default: libostree's booted or default deployment. */
  running?: string | null;
  now?: Date;
}

/** How the commit will arrive: a static delta from the running commit, or a pull by checksum. */
export type UpdateSource = { kind: 'delta'; fromCommit: string; bytes: number } | { kind: 'pull'; bytes: number };

/** What preflight accepted: the data download() and deploy() work from. */
export interface UpdatePlan {
  release: ReleaseManifest;
  /** The key that signed the manifest. */
  kid: string;
  current: CurrentCommit | null;
  source: UpdateSource;
  /** Download plus deployment size plus the reserve. */
  neededBytes: number;
}

export interface Refusal {
  reason: RefusalReason;
  message: string;
  hint: string;
}

/** The checks that need no I/O: a refusal, or null when the release may be applied. */
export function checkRelease(release: ReleaseManifest, device: DeviceIdentity, current: CurrentCommit | null, options: PreflightOptions = {}): Refusal | null {
  const name = `release ${release.ref} ${release.version}`;
  if (release.board !== null && release.board !== device.board) {
    return { reason: 'board', message: `${name} is for board ${release.board}, this device is ${device.board}`, hint: 'announce it to a group of devices of that board' };
  }
  if (release.arch !== device.arch) return { reason: 'arch', message: `${name} is for ${release.arch}, this device is ${device.arch}`, hint: 'publish a build for this architecture' };
  const floor = highest([options.floor ?? null, release.minVersion]);
  // The floor is "at or below is refused", as `ota publish --min-version` documents it.
  if (floor !== null && compareVersions(release.version, floor) <= 0) {
    return { reason: 'floor', message: `${name} is at or below the anti-rollback floor ${floor}`, hint: 'publish a version above the floor; the floor never moves down' };
  }
  if (current?.commit === release.commit) return { reason: 'current', message: `${name} (${release.commit.slice(0, 12)}) is already running`, hint: 'nothing to do' };
  if (!options.allowDowngrade && current?.version != null && compareVersions(release.version, current.version) <= 0) {
    return { reason: 'version', message: `${name} is not above the running version ${current.version}`, hint: 'ask for a downgrade explicitly, or publish a higher version' };
  }
  return null;
}

/** The source and bytes a release needs from the running commit: its delta when smaller than a whole pull. */
export function chooseSource(release: ReleaseManifest, current: CurrentCommit | null, reserveBytes = 0): { source: UpdateSource; neededBytes: number } {
  // A delta of files that changed whole can outweigh the pull, which fetches each object at most once.
  const delta = current ? release.deltas.find((d) => d.fromCommit === current.commit && d.bytes < release.fullPullBytes) : undefined;
  const source: UpdateSource = delta ? { kind: 'delta', fromCommit: delta.fromCommit, bytes: delta.bytes } : { kind: 'pull', bytes: release.fullPullBytes };
  // Conservative: the download is counted on top of the whole deployment, though objects the running one shares are on disk already.
  return { source, neededBytes: source.bytes + release.unpackedBytes + reserveBytes };
}

export function highest(versions: (string | null)[]): string | null {
  return versions.reduce<string | null>((a, v) => (v === null ? a : a === null || compareVersions(v, a) > 0 ? v : a), null);
}

export function refusalError(r: Refusal): OtaError {
  return new OtaError('ERR_OTA_REFUSED', `update refused (${r.reason}): ${r.message}`, { hint: r.hint, details: [`reason: ${r.reason}`] });
}

/** Verifies and checks a release against this device; resolves with the plan, or throws the refusal (ERR_OTA_REFUSED, or the contract's JWS codes). */
export async function preflight(input: PreflightInput): Promise<UpdatePlan> {
  const opts = input.options ?? {};
  const { doc: release, kid } = await readSigned('release', input.jws.trim(), input.trusted, opts.now ? { now: opts.now } : {});
  const current = await currentDeployment(input.sysroot, opts.running);
  const refusal = checkRelease(release, input.device, current, opts);
  if (refusal) throw refusalError(refusal);
  const { source, neededBytes } = chooseSource(release, current, opts.reserveBytes);
  const free = await freeBytes(input.sysroot.path, input.downloadDir);
  if (free < neededBytes) {
    throw refusalError({
      reason: 'disk',
      message: `release ${release.ref} ${release.version} needs ${neededBytes} bytes free (download ${source.bytes}, deployment ${release.unpackedBytes}, reserve ${opts.reserveBytes ?? 0}), ${input.sysroot.path} has ${free}`,
      hint: 'free space on the device (old deployments are pruned after a commit), or lower the reserve',
    });
  }
  return { release, kid, current, source, neededBytes };
}

/** Free bytes for the update: the sysroot's filesystem, or the smaller of two when the download directory is on another one. */
async function freeBytes(sysrootPath: string, downloadDir: string): Promise<number> {
  const avail = async (p: string): Promise<number> => {
    const s = await statfs(p);
    return s.bavail * s.bsize;
  };
  const dl = await existingAncestor(downloadDir);
  const [a, b] = await Promise.all([stat(sysrootPath), stat(dl)]);
  const free = await avail(sysrootPath);
  return a.dev === b.dev ? free : Math.min(free, await avail(dl));
}

async function existingAncestor(path: string): Promise<string> {
  let p = path;
  for (;;) {
    try {
      await stat(p);
      return p;
    } catch {
      const up = p.replace(/\/[^/]*\/?$/, '') || '/';
      if (up === p) return p;
      p = up;
    }
  }
}
