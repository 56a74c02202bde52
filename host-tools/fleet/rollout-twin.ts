import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import type { RolloutControl } from './rollout-state.js';

/**
 * The rollout's HTTP half (docs/fleet.md, "Over HTTP too"): the signed rollout document is written beside the
 * group's release in the published folder, `groups/<group>/rollout.jws`, each time it is published, and the
 * group's release pointer `groups/<group>/release.jws` only after it. A device that polls over HTTP (its broker
 * away, or none) reads the document before the release and gates it as it would over MQTT. The published folder
 * is the one `--release` lies in (`PUBLISHED/releases/<ref>/<version>.jws`); a release file elsewhere has none,
 * and only MQTT carries the rollout.
 *
 * @example
 * await writeRolloutTwin(state, jws); // PUBLISHED/groups/lab/rollout.jws, or null
 */
export function publishedRootOf(releaseFile: string): string | null {
  let d = dirname(resolve(releaseFile));
  while (dirname(d) !== d) {
    if (basename(d) === 'releases') return dirname(d);
    d = dirname(d);
  }
  return null;
}

function groupFile(state: Pick<RolloutControl, 'release' | 'group'>, name: string): string | null {
  const root = publishedRootOf(state.release.file);
  return root === null ? null : join(root, 'groups', state.group, name);
}

/** Writes the signed rollout document beside the group's release; the path, or null without a published folder. */
export async function writeRolloutTwin(state: Pick<RolloutControl, 'release' | 'group'>, jws: string): Promise<string | null> {
  const path = groupFile(state, 'rollout.jws');
  if (path !== null) await writeFileAtomic(path, `${jws}\n`, 0o644);
  return path;
}

/** Points the group's release at the rollout's, after its document (as `ota publish --group` would); true when it changed. */
export async function writeReleasePointer(state: Pick<RolloutControl, 'release' | 'group'>, releaseJws: string): Promise<boolean> {
  const path = groupFile(state, 'release.jws');
  if (path === null) return false;
  const now = await readFile(path, 'utf8').then((t) => t.trim(), () => null);
  if (now === releaseJws.trim()) return false;
  await writeFileAtomic(path, `${releaseJws.trim()}\n`, 0o644);
  return true;
}
