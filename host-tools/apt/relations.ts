import { OtaError } from '../../common/errors.js';
import { normalizeRelation, type Relation } from './version.js';

/**
 * Dependency fields (Depends, Pre-Depends, Conflicts, Provides ...) as Debian policy 7.1 writes
 * them: comma-separated groups of `|`-separated alternatives, each `name[:archqual] [(op version)]
 * [[arch list]] [<profiles>]`. Architecture restrictions and build profiles only occur in source
 * packages; they are parsed and the alternative is dropped when the list excludes `arch`.
 *
 * @example
 * parseRelations('libc6 (>= 2.34), debconf | debconf-2.0');
 * // [[{name:'libc6', op:'>=', version:'2.34'}], [{name:'debconf'}, {name:'debconf-2.0'}]]
 */
export interface Alternative {
  name: string;
  /** `any`, `native` or an architecture name, from `name:qualifier`. */
  archQualifier?: string;
  op?: Relation;
  version?: string;
}
export type Group = Alternative[];

const altPattern = /^([a-z0-9][a-z0-9.+-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s<>=]+)\s*\))?\s*(?:\[([^\]]*)\])?\s*(?:<[^>]*>\s*)*$/;

export function parseRelations(field: string | undefined, arch?: string): Group[] {
  if (field === undefined) return [];
  const text = field.replace(/\s+/g, ' ').trim();
  if (text === '') return [];
  const groups: Group[] = [];
  for (const groupText of text.split(',')) {
    const group: Group = [];
    for (const altText of groupText.split('|')) {
      const t = altText.trim();
      const m = altPattern.exec(t);
      if (!m) throw new OtaError('ERR_OTA_INDEX', `cannot parse the relation "${t}" in "${field.slice(0, 200)}"`);
      const [, name, qual, op, version, archList] = m;
      if (archList && arch && !archListIncludes(archList, arch)) continue;
      const alt: Alternative = { name: name! };
      if (qual) alt.archQualifier = qual;
      if (op) {
        alt.op = normalizeRelation(op);
        alt.version = version!;
      }
      group.push(alt);
    }
    if (group.length > 0) groups.push(group);
  }
  return groups;
}

/** dpkg's Dpkg::Deps arch_is_concerned: a plain match includes, a negated match excludes, and a list with a negation includes what it does not name. */
function archListIncludes(list: string, arch: string): boolean {
  let included = false;
  for (const item of list.trim().split(/\s+/)) {
    if (item.startsWith('!')) {
      if (archMatches(item.slice(1), arch)) return false;
      included = true;
    } else if (archMatches(item, arch)) return true;
  }
  return included;
}

/** An architecture or wildcard naming `arch` (a Linux architecture): `arch`, `any`, `linux-any`, `linux-arch`, `any-arch`. */
function archMatches(pattern: string, arch: string): boolean {
  return pattern === arch || pattern === 'any' || pattern === 'linux-any' || pattern === `linux-${arch}` || pattern === `any-${arch}`;
}

/** Renders an alternative back as Debian writes it, for messages. */
export function formatAlternative(alt: Alternative): string {
  const name = alt.archQualifier ? `${alt.name}:${alt.archQualifier}` : alt.name;
  return alt.op ? `${name} (${alt.op} ${alt.version})` : name;
}

/** Renders a group (`a | b (>= 1)`), for messages. */
export function formatGroup(group: Group): string {
  return group.map(formatAlternative).join(' | ');
}
