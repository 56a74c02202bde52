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

const altPattern = /^([a-z0-9][a-z0-9.+-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?\s*(?:\[([^\]]*)\])?\s*(?:<[^>]*>\s*)*$/;

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

function archListIncludes(list: string, arch: string): boolean {
  const items = list.trim().split(/\s+/);
  const negated = items.every((i) => i.startsWith('!'));
  if (negated) return !items.some((i) => i.slice(1) === arch || i.slice(1) === 'any');
  return items.some((i) => i === arch || i === 'any' || i === `linux-${arch}` || i === `any-${arch}`);
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
