import { readFile } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { parseRelations, formatGroup } from '../apt/relations.js';
import { loadManifest } from '../manifest/load.js';
import { conflictWith, satisfiedBySelected } from './resolve.js';
import { readLock } from './lockfile.js';
import { defaultLockPath, parseRootSpec } from './lock.js';

/**
 * `ota lock --check`: does the lockfile still satisfy the manifest? Works offline, from the two
 * files alone: the lock's settings match the manifest's, every requested package is there (in
 * the pinned version or suite), nothing excluded is, every Pre-Depends/Depends inside the lock is
 * satisfied by the lock, and nothing in it conflicts. A manifest edit that changes none of that
 * (a comment, a reordering) keeps the lock valid.
 *
 * @example
 * const problems = await checkLock({ manifestPath: 'image.yaml' }); // [] when fine
 */
export async function checkLock(options: { manifestPath: string; lockPath?: string }): Promise<string[]> {
  const { manifest } = await loadManifest(options.manifestPath);
  const lockPath = options.lockPath ?? defaultLockPath(options.manifestPath);
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch {
    throw new OtaError('ERR_OTA_LOCK_STALE', `${lockPath} does not exist`, { hint: `run \`ota lock ${options.manifestPath}\`` });
  }
  const lock = readLock(text, lockPath);
  const { header, packages, universe } = lock;
  const problems: string[] = [];
  if (header.architecture !== manifest.arch) problems.push(`architecture is ${header.architecture} in the lock, ${manifest.arch} in the manifest`);
  if (header.variant !== manifest.variant) problems.push(`variant is ${header.variant} in the lock, ${manifest.variant} in the manifest`);
  if (header.recommends !== manifest.recommends) problems.push(`recommends is ${header.recommends ? 'on' : 'off'} in the lock, ${manifest.recommends ? 'on' : 'off'} in the manifest`);
  const lockSpecs = new Set(header.sources.map((s) => s.spec));
  for (const src of manifest.sources) {
    if (!lockSpecs.has(src.uri)) problems.push(`source ${src.uri} is in the manifest but was not used for the lock`);
    else if (src.uri !== 'host' && src.suites) {
      const locked = new Set(header.sources.filter((s) => s.spec === src.uri).map((s) => s.suite));
      for (const suite of src.suites) if (!locked.has(suite)) problems.push(`suite ${suite} of source ${src.uri} was not used for the lock`);
    }
  }
  for (const spec of new Set(header.sources.map((s) => s.spec))) {
    const now = manifest.sources.filter((s) => s.uri === spec);
    if (now.length === 0) problems.push(`the lock was made with source ${spec}, which the manifest no longer has`);
    else if (spec !== 'host') {
      // A suite dropped from a source: `ota lock` would no longer take packages (or the Sources line) from it.
      for (const suite of new Set(header.sources.filter((s) => s.spec === spec).map((s) => s.suite))) {
        if (!now.some((s) => s.suites?.includes(suite))) problems.push(`the lock was made with suite ${suite} of source ${spec}, which the manifest no longer has`);
      }
    }
  }
  for (const raw of manifest.packages) {
    const spec = parseRootSpec(raw);
    const c = packages.get(spec.name) ?? universe.providers(spec.name).find((p) => packages.has(p.name));
    if (!c) problems.push(`${spec.name} is requested but not in the lock`);
    else if (spec.version && c.version !== spec.version) problems.push(`${spec.name} is pinned to ${spec.version} but locked at ${c.version}`);
    else if (spec.suite && c.origin.suite !== spec.suite) problems.push(`${spec.name} is pinned to suite ${spec.suite} but locked from ${c.origin.suite}`);
  }
  for (const name of manifest.exclude) if (packages.has(name)) problems.push(`${name} is excluded but in the lock`);
  for (const c of packages.values()) {
    const fields: [string, string | undefined][] = [['Pre-Depends', c.preDepends], ['Depends', c.depends]];
    for (const [field, value] of fields) {
      for (const group of parseRelations(value, manifest.arch)) {
        if (!group.some((alt) => satisfiedBySelected(universe, alt, packages))) {
          problems.push(`${c.name} ${field} ${formatGroup(group)} is not satisfied inside the lock`);
        }
      }
    }
    const others = new Map(packages);
    others.delete(c.name);
    const clash = conflictWith(universe, c, others);
    if (clash && c.name < clash.other.name) problems.push(`${c.name} and ${clash.other.name} conflict (${clash.relation})`);
  }
  return problems;
}
