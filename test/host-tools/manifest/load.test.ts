import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { editDistance, loadManifest, parseManifest } from '../../../host-tools/manifest/load.js';

const base = 'name: demo\narch: arm64\nsources:\n  - uri: host\n';

function manifestError(text: string): OtaError {
  try {
    parseManifest(text, 'image.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(OtaError);
    return e as OtaError;
  }
  throw new Error('expected an error');
}

describe('parseManifest', () => {
  it('applies defaults', () => {
    const m = parseManifest(base, 'image.yaml');
    expect(m).toEqual({ name: 'demo', arch: 'arm64', sources: [{ uri: 'host', priority: 500 }], variant: 'none', packages: [], exclude: [], recommends: false, debs: [] });
  });

  it('names an unknown top-level key with its line and a suggestion', () => {
    const e = manifestError(`${base}pakages: [curl]\n`);
    expect(e.code).toBe('ERR_OTA_MANIFEST');
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('unknown key "pakages"');
    expect(e.message).toContain('image.yaml:5');
    expect(e.message).toContain('did you mean "packages"');
  });

  it('names an unknown key inside a source with its path and line', () => {
    const e = manifestError('name: demo\narch: arm64\nsources:\n  - uri: host\n    suite: [bookworm]\n');
    expect(e.message).toContain('unknown key "suite" at sources[0]');
    expect(e.message).toContain('image.yaml:5');
    expect(e.message).toContain('did you mean "suites"');
  });

  it('rejects a bad architecture, naming the key and the line', () => {
    const e = manifestError('name: demo\narch: i386\nsources:\n  - uri: host\n');
    expect(e.message).toContain('"arch"');
    expect(e.message).toContain('image.yaml:2');
  });

  it('reports a missing required key', () => {
    const e = manifestError('name: demo\nsources:\n  - uri: host\n');
    expect(e.message).toContain('missing required key "arch"');
  });

  it('rejects malformed package specs and accepts pins', () => {
    expect(manifestError(`${base}packages: ["Bad Name"]\n`).message).toContain('packages[0]');
    const m = parseManifest(`${base}packages: [curl=7.88.1-10+deb12u5, nginx/bookworm-backports, libc6:arm64]\n`, 'image.yaml');
    expect(m.packages).toHaveLength(3);
  });

  it('reports YAML syntax errors with the line and duplicate keys', () => {
    expect(manifestError('name: demo\narch: [arm64\n').message).toMatch(/image\.yaml:\d+ is not valid YAML/);
    expect(manifestError(`${base}name: again\n`).message).toContain('not valid YAML');
  });

  it('lists every problem, the first in the message and the rest as details', () => {
    const e = manifestError('name: Demo\narch: sparc\nsources: []\n');
    expect(e.details.length).toBeGreaterThanOrEqual(2);
  });
});

describe('loadManifest', () => {
  it('returns the manifest with the SHA256 of its bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-manifest-'));
    const p = join(dir, 'image.yaml');
    await writeFile(p, base);
    const a = await loadManifest(p);
    await writeFile(p, `${base}# a comment\n`);
    const b = await loadManifest(p);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(a.sha256).not.toBe(b.sha256);
    expect(a.manifest).toEqual(b.manifest);
  });

  it('says which file cannot be read', async () => {
    await expect(loadManifest('/nonexistent/image.yaml')).rejects.toThrow(/cannot read manifest \/nonexistent\/image.yaml/);
  });
});

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('packages', 'pakages')).toBe(1);
    expect(editDistance('suite', 'suites')).toBe(1);
    expect(editDistance('abc', 'xyz')).toBe(3);
    expect(editDistance('', 'ab')).toBe(2);
  });
});

describe('limits and archive paths', () => {
  it('refuses a manifest over 256 KiB before parsing it, naming the file and the limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-manifest-big-'));
    const file = join(dir, 'image.yaml');
    await writeFile(file, `${base}packages:\n${Array.from({ length: 40_000 }, (_, i) => `  - package${i}\n`).join('')}`);
    const e = await loadManifest(file).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).exitCode).toBe(2);
    expect((e as OtaError).message).toMatch(new RegExp(`^manifest ${file} is \\d+ bytes; ota reads manifests of at most 262144 bytes \\(256 KiB\\)$`));
    expect((e as OtaError).hint).toMatch(/at most 10000/);
  });

  it('refuses more than 10000 packages, naming the key and the limit', () => {
    const e = manifestError(`${base}packages: [${Array.from({ length: 10_001 }, (_, i) => `p${i}`).join(', ')}]\n`);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/packages.*at most 10000 packages/);
  });

  it.each(['../../../etc', 'bookworm/../../x', 'book worm'])('refuses the suite %s, which would leave the archive in its URL', (suite) => {
    const e = manifestError(`name: demo\narch: arm64\nsources:\n  - uri: http://mirror.example/debian\n    suites: [${JSON.stringify(suite)}]\n    components: [main]\n`);
    expect(e.message).toMatch(/a suite name/);
  });

  it.each(['../../tmp/evil', 'evil.yaml', '/etc/board'])('refuses board: %s, which loadBoard would read as a path', (board) => {
    expect(manifestError(`${base}board: ${JSON.stringify(board)}\n`).message).toMatch(/a board name from boards\//);
  });

  it('refuses a component with ".." and keeps the ones Debian uses', () => {
    expect(manifestError(`name: demo\narch: arm64\nsources:\n  - uri: http://m.example/debian\n    suites: [bookworm]\n    components: [../x]\n`).message).toMatch(/a component name/);
    const ok = parseManifest(`name: demo\narch: arm64\nsources:\n  - uri: http://m.example/debian\n    suites: [bookworm-security, ./, stable/updates]\n    components: [main, non-free-firmware, updates/main]\n`, 'image.yaml');
    expect(ok.sources[0]!.components).toEqual(['main', 'non-free-firmware', 'updates/main']);
  });

  it('takes local debs only as .deb paths inside the manifest\'s folder', () => {
    expect(parseManifest(`${base}debs: [debs/ota-agent_1.0+x~1_arm64.deb, tool.deb]\n`, 'image.yaml').debs).toEqual(['debs/ota-agent_1.0+x~1_arm64.deb', 'tool.deb']);
    for (const bad of ['../tool.deb', '/abs/tool.deb', 'a/./tool.deb', 'a//tool.deb', '"a b.deb"', 'tool.tar', 'debs/']) {
      expect(manifestError(`${base}debs: [${bad}]\n`).message, bad).toMatch(/a \.deb path relative to the manifest/);
    }
  });
});
