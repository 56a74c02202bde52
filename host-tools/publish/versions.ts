import { OtaError } from '../../common/errors.js';
import { compareVersions, versionProblem } from '../../contract/index.js';

/**
 * The version rules of a publish (docs/releases.md, "Version rules"), with dpkg's ordering: a
 * version must be a valid dpkg version, above the anti-rollback floor, new, and above the latest
 * published one. --force allows a version below the latest and a lowered floor (together, a
 * deliberate rollback release), never one already published (its manifest and commit exist) and
 * never one at or below the floor its own manifest carries (devices refuse it).
 *
 * @example
 * checkVersion({ version: '1.2.0', published: ['1.1.0', '1.0.0'], floor: '1.0.0', force: false });
 */
export interface VersionCheck {
  version: string;
  /** Published versions of the ref, newest first. */
  published: string[];
  floor: string | null;
  /** The floor the latest release carries, which `floor` may raise but only --force lower. */
  previousFloor?: { floor: string; version: string } | null;
  force: boolean;
}

function refuse(message: string, hint: string): OtaError {
  return new OtaError('ERR_OTA_USAGE', message, { hint });
}

/** Throws the first rule the version breaks; returns the warnings --force let through. */
export function checkVersion(c: VersionCheck): string[] {
  const problem = versionProblem(c.version);
  if (problem) throw refuse(`--version ${c.version} is not a valid dpkg version: ${problem}`, 'use a version such as 1.2.0 or 2024.06.1-2');
  if (c.floor !== null) {
    const floorProblem = versionProblem(c.floor);
    if (floorProblem) throw refuse(`--min-version ${c.floor} is not a valid dpkg version: ${floorProblem}`, 'use a version such as 1.0.0');
  }
  if (c.published.includes(c.version) || c.published.some((p) => compareVersions(p, c.version) === 0)) {
    throw refuse(`version ${c.version} is already published`, 'publish a new version; a published version is never replaced, not even with --force');
  }
  const warnings: string[] = [];
  const check = (broken: boolean, message: string, hint: string) => {
    if (!broken) return;
    if (!c.force) throw refuse(message, `${hint}, or pass --force`);
    warnings.push(`${message} (published anyway: --force)`);
  };
  // A lower floor would let devices holding the new release accept the versions the old floor refused.
  const prev = c.previousFloor;
  if (prev && c.floor !== null) check(compareVersions(c.floor, prev.floor) < 0, `--min-version ${c.floor} lowers the anti-rollback floor ${prev.floor} of release ${prev.version}`, `give --min-version ${prev.floor} or higher`);
  // Never let through, not even with --force: the manifest would carry a floor at or above its
  // own version, and every device refuses such a release.
  if (c.floor !== null && compareVersions(c.version, c.floor) <= 0) {
    throw refuse(
      `version ${c.version} is at or below the anti-rollback floor ${c.floor}: every device would refuse it`,
      `publish a version above the floor; for a deliberate rollback release, lower the floor with it: --min-version below ${c.version} --force`,
    );
  }
  // The highest published, not the newest: after a forced rollback release the versions above
  // it are still out there.
  const latest = latestVersion(c.published);
  if (latest !== undefined) check(compareVersions(c.version, latest) < 0, `version ${c.version} is below the latest published version ${latest}`, 'publish a version above it');
  return warnings;
}

/** The highest of the published versions (dpkg order), or undefined. */
export function latestVersion(versions: string[]): string | undefined {
  return [...versions].sort(compareVersions).at(-1);
}
