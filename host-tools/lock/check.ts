import { OtaError } from '../../common/errors.js';
import { parseRelations, formatGroup } from '../apt/relations.js';
import { boardInitProblem } from '../board/init.js';
import { loadManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/schema.js';
import { conflictWith, satisfiedBySelected } from './resolve.js';
import { readLock, type Lock } from './lockfile.js';
import { defaultLockPath, parseRootSpec } from './lock.js';
import { readLockText } from './read-lock-file.js';
import { inputProblems, type InputsOptions } from './check-inputs.js';
import { lockedLocalNames } from './local-debs.js';

/**
 * `ota lock --check`: does the lockfile still satisfy the manifest? Works offline, from the two
 * files alone: the lock's settings match the manifest's, every requested package is there (in
 * the pinned version or suite), nothing excluded is, every Pre-Depends/Depends inside the lock is
 * satisfied by the lock, and nothing in it conflicts. A manifest edit that changes none of that
 * (a comment, a reordering) keeps the lock valid. `ota build` runs the same check first.
 *
 * @example
 * const problems = await checkLock({ manifestPath: 'image.yaml' }); // [] when fine
 */
export async function checkLock(options: { manifestPath: string; lockPath?: string } & Pick<InputsOptions, 'env' | 'etcApt' | 'boardsDir'>): Promise<string[]> {
  const { manifest } = await loadManifest(options.manifestPath);
  const lockPath = options.lockPath ?? defaultLockPath(options.manifestPath);
  let text: string;
  try {
    text = await readLockText(lockPath);
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw new OtaError('ERR_OTA_LOCK_STALE', `${lockPath} does not exist`, { hint: `run \`ota lock ${options.manifestPath}\`` });
  }
  const lock = readLock(text, lockPath);
  return [...lockProblems(lock, manifest), ...(await inputProblems(lock, { ...options, manifest, manifestPath: options.manifestPath, inferUnsetVars: true }))];
}

/**
 * What keeps `lock` from being what `manifest` asks for, as sentences (empty when it is). Without
 * a manifest (a lock built on its own), the lock is checked against its own header: what it says
 * was requested and excluded, and that it is closed under its dependencies.
 */
export function lockProblems(lock: Lock, manifest?: Manifest): string[] {
  const { header, packages, universe } = lock;
  const problems = manifest ? settingProblems(lock, manifest) : [];
  const requested = manifest?.packages ?? header.requested;
  for (const raw of [...requested, ...(header.board?.packages ?? [])]) {
    const spec = parseRootSpec(raw);
    const c = packages.get(spec.name) ?? universe.providers(spec.name).find((p) => packages.has(p.name));
    if (!c) problems.push(`${spec.name} is requested but not in the lock`);
    else if (spec.version && c.version !== spec.version) problems.push(`${spec.name} is pinned to ${spec.version} but locked at ${c.version}`);
    else if (spec.suite && c.origin.suite !== spec.suite) problems.push(`${spec.name} is pinned to suite ${spec.suite} but locked from ${c.origin.suite}`);
  }
  for (const name of manifest?.exclude ?? header.exclude) if (packages.has(name)) problems.push(`${name} is excluded but in the lock`);
  problems.push(...closureProblems(lock, requested));
  const init = header.board ? boardInitProblem(header.board.name, (n) => packages.has(n)) : undefined;
  if (init) problems.push(init);
  for (const c of packages.values()) {
    const fields: [string, string | undefined][] = [['Pre-Depends', c.preDepends], ['Depends', c.depends]];
    for (const [field, value] of fields) {
      for (const group of parseRelations(value, header.architecture)) {
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

/**
 * The lock must be the closure of what was asked for, as `ota lock` resolved it: every seed of
 * variant minbase there (`Variant-Seed`, or for an older lock its own Essential and required
 * stanzas), and no stanza that neither a root nor a dependency of one reaches (a package slipped
 * in by hand would otherwise be built into the image).
 */
function closureProblems({ header, packages, universe }: Lock, requested: string[]): string[] {
  const problems: string[] = [];
  const excluded = new Set(header.exclude);
  const minbase = header.variant === 'minbase';
  const ownSeeds = [...packages.values()].filter((c) => c.essential || c.priority === 'required').map((c) => c.name);
  const seed = minbase ? (header.seed ?? ownSeeds) : [];
  for (const name of seed) if (!packages.has(name) && !excluded.has(name)) problems.push(`${name} is a seed of variant minbase (Variant-Seed) but not in the lock`);
  if (minbase && header.seed) {
    const listed = new Set(header.seed);
    for (const name of ownSeeds) if (!listed.has(name)) problems.push(`${name} is Essential or Priority: required but not listed in Variant-Seed`);
  }
  const reached = new Set<string>();
  const queue: string[] = [];
  const reach = (name: string) => {
    for (const c of [packages.get(name), ...universe.providers(name).map((p) => packages.get(p.name))]) {
      if (c && !reached.has(c.name)) {
        reached.add(c.name);
        queue.push(c.name);
      }
    }
  };
  // A local deb's package is a root too: the manifest asked for it by giving its file.
  for (const raw of [...requested, ...lockedLocalNames({ header, packages, universe }), ...(header.board?.packages ?? []), ...seed]) reach(parseRootSpec(raw).name);
  while (queue.length > 0) {
    const c = packages.get(queue.pop()!)!;
    const fields = header.recommends ? [c.preDepends, c.depends, c.recommends] : [c.preDepends, c.depends];
    for (const value of fields) for (const group of parseRelations(value, header.architecture)) for (const alt of group) reach(alt.name);
  }
  for (const name of packages.keys()) if (!reached.has(name)) problems.push(`${name} is in the lock, but nothing requested depends on it`);
  return problems;
}

/** The lock's settings and sources against the manifest's. */
function settingProblems({ header }: Lock, manifest: Manifest): string[] {
  const problems: string[] = [];
  if (header.architecture !== manifest.arch) problems.push(`architecture is ${header.architecture} in the lock, ${manifest.arch} in the manifest`);
  if (header.variant !== manifest.variant) problems.push(`variant is ${header.variant} in the lock, ${manifest.variant} in the manifest`);
  if (header.recommends !== manifest.recommends) problems.push(`recommends is ${header.recommends ? 'on' : 'off'} in the lock, ${manifest.recommends ? 'on' : 'off'} in the manifest`);
  if (header.board?.name !== manifest.board) problems.push(`board is ${header.board?.name ?? 'none'} in the lock, ${manifest.board ?? 'none'} in the manifest`);
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
  return problems;
}

/**
 * Refuses to build a lock that `ota lock --check` would refuse (exit 2: the build's input is not
 * what its manifest asks for): a deleted stanza, a dropped dependency, a manifest edited since.
 */
export function refuseInconsistentLock(lock: Lock, where: { lockPath: string; manifestPath?: string; manifest?: Manifest; inputProblems?: string[] }): void {
  const problems = [...lockProblems(lock, where.manifest), ...(where.inputProblems ?? [])];
  if (problems.length === 0) return;
  const against = where.manifestPath ?? 'its own header';
  throw new OtaError('ERR_OTA_LOCKFILE', `${where.lockPath} does not satisfy ${against} (${problems.length} problem${problems.length > 1 ? 's' : ''}); nothing was built`, {
    details: problems,
    hint: where.manifestPath ? `run \`ota lock --update ${where.manifestPath}\` and review the change` : 'regenerate the lock with `ota lock --update <manifest>`',
  });
}
