import { formatStanzas } from '../apt/control.js';

/**
 * The dpkg database of the "unpacked" state, as data (stage 1 of a build): what `dpkg --unpack`
 * would have written under /var/lib/dpkg for these packages, so that stage 2 only has to run
 * `dpkg --configure -a`. Byte for byte what dpkg 1.21 writes (the test compares with a real
 * `dpkg --root --unpack`): status stanzas in dpkg's field order with `Status: install ok
 * unpacked` and conffiles recorded as `newconffile`; info/<pkg>[:<arch>].list, .md5sums
 * (generated, as dpkg does, when the package ships none) and each control member.
 *
 * @example
 * const files = dpkgDatabase([{ control, members, entries }]);
 * files.get('status')!.content.toString();
 */
export interface UnpackedPackage {
  /** The control file's fields, in their order. */
  control: Map<string, string>;
  /** The other control.tar members by name (md5sums, conffiles, postinst, triggers ...). */
  members: Map<string, Buffer>;
  /** The data tar's entries in archive order, absolute paths ('/usr', '/usr/bin/x'). */
  entries: { path: string; type: 'file' | 'directory' | 'symlink'; md5?: string }[];
}

export interface DbFile {
  content: Buffer;
  mode: number;
  type?: 'directory';
}

/** dpkg's own field order for status (lib/dpkg/parse.c fieldinfos); other fields follow in their order. */
const FIELD_ORDER = [
  'Package', 'Essential', 'Protected', 'Status', 'Priority', 'Section', 'Installed-Size', 'Origin', 'Maintainer', 'Bugs',
  'Architecture', 'Multi-Arch', 'Source', 'Version', 'Revision', 'Config-Version', 'Replaces', 'Provides', 'Depends',
  'Pre-Depends', 'Recommends', 'Suggests', 'Breaks', 'Conflicts', 'Enhances', 'Conffiles', 'Filename', 'Size', 'MD5sum',
  'MSDOS-Filename', 'Description', 'Triggers-Pending', 'Triggers-Awaited',
];
const KNOWN = new Set(FIELD_ORDER.map((f) => f.toLowerCase()));

/** Control members dpkg keeps in info/ (lib/dpkg/...: the rest of control.tar is not installed). */
const SCRIPTS = new Set(['preinst', 'postinst', 'prerm', 'postrm', 'config']);

/** info/ names a Multi-Arch: same package `<name>:<arch>`, others just `<name>`. */
export function infoName(control: Map<string, string>): string {
  const name = control.get('Package')!;
  return control.get('Multi-Arch') === 'same' ? `${name}:${control.get('Architecture')}` : name;
}

export function dpkgDatabase(packages: UnpackedPackage[]): Map<string, DbFile> {
  const files = new Map<string, DbFile>();
  const sorted = [...packages].sort((a, b) => cmp(a.control.get('Package')!, b.control.get('Package')!) || cmp(a.control.get('Architecture')!, b.control.get('Architecture')!));
  const stanzas: [string, string][][] = [];
  for (const p of sorted) {
    const info = infoName(p.control);
    const fields = new Map(p.control);
    fields.set('Status', 'install ok unpacked');
    const conffiles = (p.members.get('conffiles')?.toString('utf8') ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('/'));
    if (conffiles.length > 0) fields.set('Conffiles', ['', ...conffiles.map((c) => `${c} newconffile`)].join('\n'));
    stanzas.push(order(fields));

    const list = ['/.', ...p.entries.map((e) => e.path)].join('\n') + '\n';
    files.set(`info/${info}.list`, { content: Buffer.from(list), mode: 0o644 });
    let md5sums = p.members.get('md5sums');
    if (!md5sums) {
      const lines = p.entries.filter((e) => e.type === 'file').map((e) => `${e.md5}  ${e.path.replace(/^\//, '')}\n`);
      if (lines.some((l) => l.startsWith('undefined'))) throw new Error(`md5 missing for a file of ${info}, this is a bug`);
      md5sums = Buffer.from(lines.join(''));
    }
    files.set(`info/${info}.md5sums`, { content: md5sums, mode: 0o644 });
    for (const [name, content] of p.members) {
      if (name === 'control' || name === 'md5sums') continue;
      files.set(`info/${info}.${name}`, { content, mode: SCRIPTS.has(name) ? 0o755 : 0o644 });
    }
  }
  // Trigger interests, registered as dpkg's unpack registers them (triggers/File for paths,
  // triggers/<name> for named ones; `/noawait` marks interest-noawait). Activations at unpack
  // are not recorded: dpkg drops them for packages that are not configured yet, as here.
  const fileInterests: string[] = [];
  const named = new Map<string, string[]>();
  for (const p of sorted) {
    for (const line of (p.members.get('triggers')?.toString('utf8') ?? '').split('\n')) {
      const m = /^\s*(interest(?:-await|-noawait)?)\s+(\S+)/.exec(line);
      if (!m) continue;
      const who = `${infoName(p.control)}${m[1] === 'interest-noawait' ? '/noawait' : ''}`;
      if (m[2]!.startsWith('/')) fileInterests.push(`${m[2]} ${who}`);
      else named.set(m[2]!, [...(named.get(m[2]!) ?? []), who]);
    }
  }
  if (fileInterests.length > 0) files.set('triggers/File', { content: Buffer.from(fileInterests.map((l) => `${l}\n`).join('')), mode: 0o644 });
  for (const [name, who] of named) files.set(`triggers/${name}`, { content: Buffer.from(who.map((w) => `${w}\n`).join('')), mode: 0o644 });
  // dpkg ends every stanza with an empty line, the last one too.
  files.set('status', { content: Buffer.from(stanzas.length > 0 ? `${formatStanzas(stanzas)}\n` : ''), mode: 0o644 });
  files.set('info/format', { content: Buffer.from('1\n'), mode: 0o644 });
  files.set('triggers/Unincorp', { content: Buffer.alloc(0), mode: 0o644 });
  files.set('updates', { content: Buffer.alloc(0), mode: 0o755, type: 'directory' });
  return files;
}

function order(fields: Map<string, string>): [string, string][] {
  const out: [string, string][] = [];
  for (const f of FIELD_ORDER) {
    for (const [k, v] of fields) if (k.toLowerCase() === f.toLowerCase()) out.push([k, v]);
  }
  for (const [k, v] of fields) if (!KNOWN.has(k.toLowerCase())) out.push([k, v]);
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
