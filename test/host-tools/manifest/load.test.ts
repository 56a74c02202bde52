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
    expect(m).toEqual({ name: 'demo', arch: 'arm64', sources: [{ uri: 'host', priority: 500 }], variant: 'none', packages: [], exclude: [], recommends: false });
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
