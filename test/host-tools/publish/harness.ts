import { generateKeyPairSync } from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
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

/** A release key DIR as `ota keys generate` makes it (release.jwk 0600, release.pub.jwks). */
export async function releaseKey(dir: string): Promise<{ dir: string; kid: string; seed: Buffer; publicRaw: Buffer }> {
  await mkdir(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x! }, 'sha256');
  await writeFile(join(dir, 'release.jwk'), JSON.stringify({ ...jwk, alg: 'EdDSA', kid }), { mode: 0o600 });
  await writeFile(join(dir, 'release.pub.jwks'), JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: jwk.x, alg: 'EdDSA', kid }] }));
  const publicRaw = (publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12);
  return { dir, kid, seed: Buffer.from(jwk.d!, 'base64url'), publicRaw };
}

/** Every file under `dir` with the sha256 of its content (symlinks by target): to prove nothing changed. */
export async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${relative(dir, p)}/`, '');
        await walk(p);
      } else if (e.isFile()) out.set(relative(dir, p), createHash('sha256').update(await readFile(p)).digest('hex'));
      else out.set(relative(dir, p), 'other');
    }
  };
  await walk(dir);
  return out;
}

export const noise = (n: number): Buffer => randomBytes(n);
