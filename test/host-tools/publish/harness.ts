import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeys } from '../../../host-tools/keys/generate.js';
import { commitDirectory, encodeMetadata, GVariantValue, Repo } from '../../../node-ostree/index.js';

/**
 * Small built commits for the publish tests: a real bare-user repository with commits that
 * carry what `ota build` writes (a dpkg status under /usr/lib/sysimage/dpkg, ota.arch and
 * ota.board metadata), so the tests need no archive or emulator; and a release key written as
 * `ota keys generate` lays it out (release.jwk, release.pub.jwks).
 */
export interface Pkg {
  name: string;
  version: string;
  arch?: string;
}

function status(pkgs: Pkg[]): string {
  return pkgs.map((p) => `Package: ${p.name}\nStatus: install ok installed\nArchitecture: ${p.arch ?? 'arm64'}\nVersion: ${p.version}\n`).join('\n');
}

export interface BuildRepo {
  path: string;
  /** Commits a tree with these packages (each brings a file of random bytes of `bytes` size) to `ref`. */
  build(ref: string, pkgs: Pkg[], options?: { bytes?: number; timestamp?: number; board?: string }): Promise<string>;
}

export async function buildRepo(dir: string): Promise<BuildRepo> {
  const path = join(dir, 'build');
  (await Repo.create(path, 'bare-user')).close();
  let n = 0;
  return {
    path,
    async build(ref, pkgs, options = {}) {
      const tree = join(dir, `tree-${n++}`);
      await mkdir(join(tree, 'usr/lib/sysimage/dpkg'), { recursive: true });
      await mkdir(join(tree, 'usr/share'), { recursive: true });
      await writeFile(join(tree, 'usr/lib/sysimage/dpkg/status'), status(pkgs));
      for (const p of pkgs) {
        // Content from the name and version: the same package version is the same file.
        const seed = createHash('sha256').update(`${p.name} ${p.version}`).digest();
        const bytes = Buffer.alloc(options.bytes ?? 20_000);
        for (let i = 0; i < bytes.length; i += 32) createHash('sha256').update(seed).update(String(i)).digest().copy(bytes, i);
        await writeFile(join(tree, 'usr/share', p.name), bytes);
      }
      const repo = await Repo.open(path);
      try {
        const metadata = encodeMetadata({
          version: new GVariantValue('s', '2026-01-01T00:00:00Z'),
          'ota.arch': new GVariantValue('s', 'arm64'),
          ...(options.board ? { 'ota.board': new GVariantValue('s', options.board) } : {}),
        });
        const r = await commitDirectory(repo, tree, { ref, timestamp: options.timestamp ?? 1_700_000_000 + n, subject: `build ${n}`, metadata });
        return r.checksum;
      } finally {
        repo.close();
        await rm(tree, { recursive: true, force: true });
      }
    },
  };
}

/** A release key DIR made by `ota keys generate`'s code (release.jwk, release.pub.jwks, ...). */
export async function releaseKey(dir: string, options: { gpg?: boolean } = {}): Promise<{ dir: string; kid: string; publicRaw: Buffer }> {
  const r = await generateKeys(dir, options);
  const jwks = JSON.parse(await readFile(join(dir, 'release.pub.jwks'), 'utf8')) as { keys: { x: string }[] };
  return { dir, kid: r.kid, publicRaw: Buffer.from(jwks.keys[0]!.x, 'base64url') };
}

/** Re-exported for this harness's tests (test/helpers/tree-snapshot.ts holds it). */
export { hashTree } from '../../helpers/tree-snapshot.js';

export const noise = (n: number): Buffer => randomBytes(n);
