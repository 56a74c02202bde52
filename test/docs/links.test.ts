import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// README.md and docs/ are read top to bottom by newcomers, and code comments cite docs/ pages by
// section: a renamed page or heading must not leave a reference dangling.
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const sourceDirs = ['contract', 'bundle', 'host-tools', 'device-agent', 'node-ostree', 'bootloader', 'common', 'bench', 'test', 'scripts'];

function walk(dir: string, keep: (p: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const set = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6} +(.+)$/gm)) {
    set.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return set;
}

function headings(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6} +(.+)$/gm)].map((m) => m[1]!.trim()));
}

const markdownFiles = [join(root, 'README.md'), ...walk(join(root, 'docs'), (p) => p.endsWith('.md'))].concat(
  ['bootloader', 'boards', 'bundle', 'device-agent'].map((d) => join(root, d, 'README.md')).filter(existsSync),
);

describe('documentation links', () => {
  it.each(markdownFiles.map((f) => [relative(root, f), f]))('%s: every relative link resolves', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [path, anchor] = target.split('#');
      const resolved = path ? join(dirname(file), path) : file;
      if (!existsSync(resolved)) broken.push(`${target} (no such file)`);
      else if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('code comments cite docs/ pages and sections that exist, and nothing outside the repo', () => {
    const files = sourceDirs.flatMap((d) => walk(join(root, d), (p) => /\.(ts|js)$/.test(p) || !p.includes('.')));
    const broken: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/docs\/([\w.-]+\.md)(?:, "([^"]+)")?/g)) {
        const page = join(root, 'docs', m[1]!);
        if (!existsSync(page)) broken.push(`${relative(root, file)}: docs/${m[1]}`);
        else if (m[2] && !headings(readFileSync(page, 'utf8')).has(m[2])) {
          broken.push(`${relative(root, file)}: docs/${m[1]}, "${m[2]}"`);
        }
      }
      if (/\.\.\/shared\/|\b(style|ostree-facts)\.md\b|\b[Ii]ssue \d+/.test(text)) {
        broken.push(`${relative(root, file)}: cites a path outside the repository or a tracker number`);
      }
    }
    expect(broken).toEqual([]);
  });
});
