import { OtaError } from '../../common/errors.js';
import { parseStanzas } from './control.js';
import { INDEX_FIELD_CHECKS, stanzaProblem } from './field-syntax.js';

/**
 * One Packages file, indexed for resolution without parsing all of it. A Debian main index holds
 * ~64,000 stanzas (~47 MB) of which a lock touches a few hundred, so the index keeps only stanza
 * offsets per package name, who provides what, and the Essential / Priority: required sets; a
 * stanza is parsed when the resolver first asks for that name. The index data is plain JSON and
 * is cached beside the index text, keyed by the text's SHA256 (see `index-cache.ts`).
 *
 * @example
 * const idx = PackagesIndex.fromText(text);
 * idx.records('bash')[0].version;
 */
export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  multiArch: string | undefined;
  essential: boolean;
  priority: string | undefined;
  section: string | undefined;
  source: string | undefined;
  depends: string | undefined;
  preDepends: string | undefined;
  recommends: string | undefined;
  provides: string | undefined;
  conflicts: string | undefined;
  breaks: string | undefined;
  replaces: string | undefined;
  filename: string;
  size: number;
  sha256: string;
}

export interface IndexData {
  version: 1;
  /** Package name -> character offsets of its stanzas in the text. */
  stanzas: Record<string, number[]>;
  /** Virtual (or real) name -> names of packages whose Provides list it. */
  provides: Record<string, string[]>;
  essential: string[];
  required: string[];
}

export class PackagesIndex {
  private readonly parsed = new Map<string, PackageRecord[]>();

  private constructor(
    private readonly text: string,
    readonly data: IndexData,
  ) {}

  /** Scans the text once and builds the index. */
  static fromText(text: string): PackagesIndex {
    return new PackagesIndex(text, scan(text));
  }

  /** Uses an index built earlier from the same text (the cache checks the hash). */
  static fromCache(text: string, data: IndexData): PackagesIndex {
    return new PackagesIndex(text, data);
  }

  names(): string[] {
    return Object.keys(this.data.stanzas);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.data.stanzas, name);
  }

  /** Every stanza for `name` (usually one; an index may carry several versions). */
  records(name: string): PackageRecord[] {
    let recs = this.parsed.get(name);
    if (recs) return recs;
    const offsets = Object.hasOwn(this.data.stanzas, name) ? this.data.stanzas[name]! : [];
    recs = offsets.map((off) => toRecord(this.stanzaAt(off)));
    this.parsed.set(name, recs);
    return recs;
  }

  /** Names of packages that list `name` in Provides. */
  providersOf(name: string): string[] {
    return Object.hasOwn(this.data.provides, name) ? this.data.provides[name]! : [];
  }

  /** The raw stanza text at an offset, for callers that need every field. */
  stanzaAt(offset: number): string {
    const end = this.text.indexOf('\n\n', offset);
    return this.text.slice(offset, end === -1 ? this.text.length : end);
  }
}

function scan(text: string): IndexData {
  const stanzas: Record<string, number[]> = Object.create(null);
  const provides: Record<string, string[]> = Object.create(null);
  const essential: string[] = [];
  const required: string[] = [];
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    // skip blank lines between stanzas
    while (pos < len && (text.charCodeAt(pos) === 10 || text.charCodeAt(pos) === 13)) pos++;
    if (pos >= len) break;
    const start = pos;
    let name: string | undefined;
    let prov: string | undefined;
    let isEssential = false;
    let isRequired = false;
    let lastWasProvides = false;
    for (;;) {
      let eol = text.indexOf('\n', pos);
      if (eol === -1) eol = len;
      const c = text.charCodeAt(pos);
      if (eol === pos || (eol === pos + 1 && c === 13)) {
        pos = eol;
        break;
      }
      if (c === 32 || c === 9) {
        if (lastWasProvides) prov += ' ' + text.slice(pos, eol).trim();
      } else {
        lastWasProvides = false;
        if (c === 80 /* P */) {
          if (text.startsWith('Package:', pos)) name = text.slice(pos + 8, eol).trim();
          else if (text.startsWith('Provides:', pos)) {
            prov = text.slice(pos + 9, eol).trim();
            lastWasProvides = true;
          } else if (text.startsWith('Priority:', pos)) isRequired = text.slice(pos + 9, eol).trim() === 'required';
        } else if (c === 69 /* E */ && text.startsWith('Essential:', pos)) {
          isEssential = text.slice(pos + 10, eol).trim() === 'yes';
        }
      }
      pos = eol + 1;
      if (pos >= len) break;
    }
    if (name === undefined) continue;
    (stanzas[name] ??= []).push(start);
    if (isEssential) essential.push(name);
    if (isRequired) required.push(name);
    if (prov) {
      for (const item of prov.split(',')) {
        const m = /^\s*([^\s(:]+)/.exec(item);
        if (!m) continue;
        const list = (provides[m[1]!] ??= []);
        if (list[list.length - 1] !== name) list.push(name);
      }
    }
  }
  return { version: 1, stanzas, provides, essential: [...new Set(essential)], required: [...new Set(required)] };
}

function toRecord(stanzaText: string): PackageRecord {
  const s = parseStanzas(stanzaText)[0] ?? new Map<string, string>();
  const need = (k: string): string => {
    const v = s.get(k);
    if (v === undefined) throw new OtaError('ERR_OTA_INDEX', `a Packages stanza has no ${k} field: "${stanzaText.slice(0, 80)}"`);
    return v;
  };
  const record: PackageRecord = {
    name: need('Package'),
    version: need('Version'),
    architecture: need('Architecture'),
    multiArch: s.get('Multi-Arch'),
    essential: s.get('Essential') === 'yes',
    priority: s.get('Priority'),
    section: s.get('Section'),
    source: s.get('Source'),
    depends: s.get('Depends'),
    preDepends: s.get('Pre-Depends'),
    recommends: s.get('Recommends'),
    provides: s.get('Provides'),
    conflicts: s.get('Conflicts'),
    breaks: s.get('Breaks'),
    replaces: s.get('Replaces'),
    filename: need('Filename'),
    size: Number(need('Size')),
    sha256: need('SHA256'),
  };
  // The fields that become paths, URLs and refs are checked before anything uses them.
  const bad = stanzaProblem(s, INDEX_FIELD_CHECKS);
  if (bad) {
    throw new OtaError('ERR_OTA_INDEX', `the Packages stanza of ${JSON.stringify(s.get('Package') ?? '?')}: ${bad.field} ${bad.reason}`, {
      hint: 'the archive publishes an index ota cannot trust; report it to whoever runs the archive, or drop that source',
    });
  }
  return record;
}
