import { OtaError } from '../../common/errors.js';
import { formatGroup, parseRelations } from '../apt/relations.js';
import { readLock } from './lockfile.js';
import { readLockText } from './read-lock-file.js';
import type { Candidate } from './universe.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';

/**
 * `ota lock --explain PKG`: why a package is in the lock, as the shortest dependency chain from
 * something the manifest asked for (or minbase's Essential / Priority: required set), plus every
 * locked package that depends on it directly. Computed from the lockfile alone.
 *
 * @example
 * const e = await explainPackage('image.lock', 'libssl3');
 * e.chain; // [{ name: 'openssh-server', … }, { name: 'libssl3', via: 'Depends: libssl3 (>= 3.0.0)' }]
 */
export interface ExplainStep {
  name: string;
  version: string;
  /** The relation of the previous step that this package satisfies. */
  via?: string;
}

export interface Explanation {
  name: string;
  version: string;
  root: 'requested' | 'essential' | 'required';
  chain: ExplainStep[];
  dependents: string[];
}

export async function explainPackage(lockPath: string, name: string): Promise<Explanation> {
  const lock = readLock(await readLockText(lockPath).catch((e: unknown) => {
    if (e instanceof OtaError) throw e;
    throw new OtaError('ERR_OTA_LOCKFILE', `cannot read ${lockPath}: ${fsReason(e)}`, { hint: isMissing(e) ? 'make it first with `ota lock` (or give the lockfile with -o)' : undefined });
  }), lockPath);
  const { header, packages, universe } = lock;
  const target = packages.get(name);
  if (!target) {
    throw new OtaError('ERR_OTA_UNKNOWN_PACKAGE', `${name} is not in ${lockPath}`, {
      hint: 'ota lock --explain names a package of the lock; list them with `grep ^Package: ' + lockPath + '`',
    });
  }
  const fields = (c: Candidate): [string, string | undefined][] => {
    const f: [string, string | undefined][] = [['Pre-Depends', c.preDepends], ['Depends', c.depends]];
    if (header.recommends) f.push(['Recommends', c.recommends]);
    return f;
  };
  // Edges: package -> the locked packages that satisfy each of its relations.
  const edges = new Map<string, { to: string; via: string }[]>();
  for (const c of packages.values()) {
    const out: { to: string; via: string }[] = [];
    for (const [field, value] of fields(c)) {
      for (const group of parseRelations(value, header.architecture)) {
        // The lock's universe holds only locked packages, so its candidates and providers are the lock's.
        const targets = new Set<string>();
        for (const alt of group) {
          for (const d of [universe.candidate(alt.name), ...universe.providers(alt.name)]) {
            if (d && d.name !== c.name && universe.satisfies(d, alt)) targets.add(d.name);
          }
        }
        for (const to of targets) out.push({ to, via: `${field}: ${formatGroup(group)}` });
      }
    }
    edges.set(c.name, out);
  }
  const rootKind = new Map<string, Explanation['root']>();
  for (const r of header.requested) {
    const n = r.split(/[:=/]/)[0]!;
    const c = packages.get(n) ?? universe.providers(n).find((p) => packages.has(p.name));
    if (c) rootKind.set(c.name, 'requested');
  }
  if (header.variant === 'minbase') {
    for (const c of packages.values()) {
      if (!rootKind.has(c.name) && c.essential) rootKind.set(c.name, 'essential');
      else if (!rootKind.has(c.name) && c.priority === 'required') rootKind.set(c.name, 'required');
    }
  }
  // Breadth-first from every root at once: the first time we reach the target is a shortest chain.
  const prev = new Map<string, { from: string; via: string } | null>();
  const queue: string[] = [];
  for (const r of [...rootKind.keys()].sort()) {
    prev.set(r, null);
    queue.push(r);
  }
  while (queue.length > 0 && !prev.has(name)) {
    const cur = queue.shift()!;
    for (const e of edges.get(cur) ?? []) {
      if (prev.has(e.to)) continue;
      prev.set(e.to, { from: cur, via: e.via });
      queue.push(e.to);
    }
  }
  if (!prev.has(name)) {
    throw new OtaError('ERR_OTA_LOCK_STALE', `${name} is in ${lockPath} but nothing requested needs it`, {
      hint: 'the lock is stale: run `ota lock --update`',
    });
  }
  const chain: ExplainStep[] = [];
  for (let cur: string | undefined = name; cur !== undefined; ) {
    const p = prev.get(cur);
    const c = packages.get(cur)!;
    chain.unshift(p ? { name: cur, version: c.version, via: p.via } : { name: cur, version: c.version });
    cur = p ? p.from : undefined;
  }
  const dependents = [...edges].filter(([, out]) => out.some((e) => e.to === name)).map(([n]) => n).sort();
  return { name, version: target.version, root: rootKind.get(chain[0]!.name)!, chain, dependents };
}
