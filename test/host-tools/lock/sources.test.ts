import { mkdir, mkdtemp, writeFile, copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../host-tools/manifest/load.js';
import { expandSources, expandVars } from '../../../host-tools/lock/sources.js';
import { OtaError } from '../../../common/errors.js';

// A keyring file to point at: any binary file will do for expansion (verification is gpgv's job).
async function fixtureEtc(): Promise<{ dir: string; etcApt: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-sources-'));
  const etcApt = join(dir, 'etc/apt');
  await mkdir(join(etcApt, 'sources.list.d'), { recursive: true });
  await mkdir(join(etcApt, 'trusted.gpg.d'), { recursive: true });
  const key = join(dir, 'key.gpg');
  await writeFile(key, Buffer.from([0x99, 0x01, 0x0d]));
  await copyFile(key, join(etcApt, 'trusted.gpg.d', 'default.gpg'));
  await writeFile(
    join(etcApt, 'sources.list.d', 'main.sources'),
    `Types: deb\nURIs: http://mirror.example/debian\nSuites: stable stable-updates\nComponents: main contrib\nSigned-By: ${key}\n\nTypes: deb\nURIs: http://vendor.example/apt\nSuites: vendor\nComponents: main\nArchitectures: amd64\n`,
  );
  return { dir, etcApt, key };
}

describe('expandSources', () => {
  it('expands `host` into the host suites that carry the image arch, with their keyrings', async () => {
    const { etcApt } = await fixtureEtc();
    const m = parseManifest('name: d\narch: arm64\nsources:\n  - uri: host\n', 'image.yaml');
    const suites = await expandSources(m, '/x/image.yaml', { etcApt });
    expect(suites.map((s) => `${s.uri} ${s.suite} ${s.components.join(',')}`)).toEqual([
      'http://mirror.example/debian stable main,contrib',
      'http://mirror.example/debian stable-updates main,contrib',
    ]);
    expect(suites[0]!.keyrings).toHaveLength(1);
    expect(suites[0]!.fromHost).toBe(true);
    expect(suites[0]!.label).toContain('main.sources');
  });

  it('filters host sources by suites and components', async () => {
    const { etcApt } = await fixtureEtc();
    const m = parseManifest('name: d\narch: amd64\nsources:\n  - uri: host\n    suites: [stable, vendor]\n    components: [main]\n', 'image.yaml');
    const suites = await expandSources(m, '/x/image.yaml', { etcApt });
    expect(suites.map((s) => `${s.suite} ${s.components.join(',')}`)).toEqual(['stable main', 'vendor main']);
  });

  it('fails clearly when no host source fits', async () => {
    const { etcApt } = await fixtureEtc();
    const m = parseManifest('name: d\narch: arm64\nsources:\n  - uri: host\n    suites: [vendor]\n', 'image.yaml');
    await expect(expandSources(m, '/x/image.yaml', { etcApt })).rejects.toThrow(/no entry for suites vendor that carries arm64/);
  });

  it('fills ${VAR} from the environment and reads a relative keyring', async () => {
    const { dir, etcApt } = await fixtureEtc();
    const m = parseManifest('name: d\narch: arm64\nsources:\n  - uri: ${MIRROR}/debian\n    suites: [stable]\n    components: [main]\n    keyring: key.gpg\n    priority: 700\n', 'image.yaml');
    const suites = await expandSources(m, join(dir, 'image.yaml'), { etcApt, env: { MIRROR: 'http://127.0.0.1:9' } });
    expect(suites).toHaveLength(1);
    expect(suites[0]).toMatchObject({ uri: 'http://127.0.0.1:9/debian', specUri: '${MIRROR}/debian', suite: 'stable', priority: 700, fromHost: false });
  });

  it('rejects an unset variable, a non-URL and a source without suites or components', async () => {
    const { etcApt } = await fixtureEtc();
    const mk = (src: string) => parseManifest(`name: d\narch: arm64\nsources:\n  - ${src}\n`, 'image.yaml');
    await expect(expandSources(mk('uri: ${NOPE}\n    suites: [s]\n    components: [main]'), '/x/image.yaml', { etcApt, env: {} })).rejects.toThrow(/environment variable NOPE is not set/);
    await expect(expandSources(mk('uri: mirror.example/debian\n    suites: [s]\n    components: [main]'), '/x/image.yaml', { etcApt })).rejects.toThrow(/not an http\(s\):\/\/ or file: URL/);
    await expect(expandSources(mk('uri: http://mirror.example/debian'), '/x/image.yaml', { etcApt })).rejects.toThrow(/needs `suites`/);
    await expect(expandSources(mk('uri: http://mirror.example/debian\n    suites: [s]'), '/x/image.yaml', { etcApt })).rejects.toThrow(/needs `components`/);
  });

  it('accepts a flat repository without components', async () => {
    const { etcApt } = await fixtureEtc();
    const m = parseManifest('name: d\narch: arm64\nsources:\n  - uri: http://mirror.example/flat\n    suites: [./]\n', 'image.yaml');
    const suites = await expandSources(m, '/x/image.yaml', { etcApt });
    expect(suites[0]!.components).toEqual([]);
  });

  it('names a missing keyring file', async () => {
    const { etcApt } = await fixtureEtc();
    const m = parseManifest('name: d\narch: arm64\nsources:\n  - uri: http://mirror.example/debian\n    suites: [s]\n    components: [main]\n    keyring: missing.gpg\n', 'image.yaml');
    await expect(expandSources(m, '/x/image.yaml', { etcApt })).rejects.toThrow(/cannot read keyring \/x\/missing.gpg/);
  });
});

describe('expandVars', () => {
  it('replaces every ${NAME} and leaves other text alone', () => {
    expect(expandVars('${A}/x/${B}', { A: 'http://h', B: 'y' }, 'here')).toBe('http://h/x/y');
    expect(expandVars('http://plain', {}, 'here')).toBe('http://plain');
    expect(existsSync('/')).toBe(true);
  });
});

describe('keyrings a manifest names', () => {
  it.each(['/dev/zero', '/tmp'])('refuses %s, which is not a regular file, as bad input before reading it', async (keyring) => {
    const m = parseManifest(`name: d\narch: arm64\nsources:\n  - uri: http://m.example/debian\n    suites: [stable]\n    components: [main]\n    keyring: ${keyring}\n`, 'image.yaml');
    const e = await expandSources(m, '/x/image.yaml').then(() => undefined, (err: unknown) => err as OtaError);
    expect(e).toBeInstanceOf(OtaError);
    expect(e!.exitCode).toBe(2);
    expect(e!.message).toBe(`sources[0] (/x/image.yaml): keyring ${keyring} is not a regular file`);
  });

  it('refuses a readable file that is not an OpenPGP keyring (a shadow file) as bad input, before gpgv', async () => {
    const { dir } = await fixtureEtc();
    await writeFile(join(dir, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n');
    const m = parseManifest('name: d\narch: arm64\nsources:\n  - uri: http://m.example/debian\n    suites: [stable]\n    components: [main]\n    keyring: ../etc/shadow\n', 'image.yaml');
    const e = await expandSources(m, join(dir, 'sub', 'image.yaml')).then(() => undefined, (err: unknown) => err as OtaError);
    expect(e).toBeInstanceOf(OtaError);
    expect(e!.code).toBe('ERR_OTA_MANIFEST');
    expect(e!.exitCode).toBe(2);
    expect(e!.message).toBe(`sources[0] (${join(dir, 'sub', 'image.yaml')}): keyring ../etc/shadow is not an OpenPGP keyring (neither an armored public key block nor binary key packets)`);
  });
});
