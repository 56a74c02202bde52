import { sign } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commitDirectory, encodeMetadata, encodeVariant, GVariantValue, regenerateSummary, Repo, signCommitEd25519 } from '../../node-ostree/index.js';
import { generateSigningKey, signDocument, type ReleaseManifest, type SigningKey } from '../../contract/index.js';
import { generateReleaseDelta } from '../../host-tools/publish/delta.js';
import { releaseSizes } from '../../host-tools/publish/sizes.js';

/**
 * A published directory as docs/releases.md, "The published directory" lays it out, made from
 * real parts (an archive-mode repository, ed25519 commit and summary signatures, signed JWS
 * manifests, a static delta) without `ota publish`, so verify and bundle tests can damage one
 * piece at a time. Two versions of one ref: 1.0, then 2.0 with a delta from 1.0.
 */
export interface PublishedFixture {
  dir: string;
  /** A key directory holding release.pub.jwks, as `ota keys generate` makes. */
  keyDir: string;
  key: SigningKey;
  ref: string;
  commits: Record<string, string>;
  repo: string;
}

export const FIXTURE_REF = 'fx/amd64';

export async function writeTree(dir: string, version: string): Promise<void> {
  await mkdir(join(dir, 'usr/bin'), { recursive: true });
  await mkdir(join(dir, 'usr/lib'), { recursive: true });
  await writeFile(join(dir, 'usr/lib/os-release'), `ID=fx\nVERSION_ID=${version}\n`);
  await writeFile(join(dir, 'usr/bin/tool'), `#!/bin/sh\necho ${version}\n`.repeat(50));
  // Incompressible and large enough to be worth a delta part of its own.
  const noise = Buffer.alloc(200_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  await writeFile(join(dir, 'usr/lib/blob'), noise);
}

function manifest(ref: string, version: string, commit: string, rest: Pick<ReleaseManifest, 'deltas' | 'fullPullBytes' | 'unpackedBytes'>): ReleaseManifest {
  return {
    apiVersion: 'deb-ota/v1', kind: 'Release', ref, version, commit, subject: `fx ${version}`, board: 'fxboard', arch: 'amd64',
    minVersion: null, group: null, publishedAt: '2026-01-01T00:00:00Z', ...rest,
    packages: [{ name: 'fx', version, arch: 'amd64' }],
    changes: { previousVersion: null, added: [], removed: [], changed: [] },
  };
}

export async function signSummary(repoPath: string, key: SigningKey): Promise<void> {
  const summary = await readFile(join(repoPath, 'summary'));
  const sig = encodeVariant('a{sv}', [['ostree.sign.ed25519', new GVariantValue('aay', [sign(null, summary, key.privateKey)])]]);
  await writeFile(join(repoPath, 'summary.sig'), sig);
}

export async function makePublished(root: string): Promise<PublishedFixture> {
  const dir = join(root, 'published');
  const keyDir = join(root, 'keys');
  const key = await generateSigningKey();
  await mkdir(keyDir, { recursive: true });
  await writeFile(join(keyDir, 'release.pub.jwks'), JSON.stringify({ keys: [key.publicJwk] }));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  await writeFile(join(dir, 'keys.jwks'), JSON.stringify({ keys: [key.publicJwk] }));
  const repo = await Repo.create(join(dir, 'repo'), 'archive');
  const commits: Record<string, string> = {};
  try {
    let parent: string | undefined;
    for (const version of ['1.0', '2.0']) {
      const tree = join(root, `tree-${version}`);
      await writeTree(tree, version);
      const metadata = encodeMetadata({ version: new GVariantValue('s', version), 'ota.arch': new GVariantValue('s', 'amd64'), 'ota.board': new GVariantValue('s', 'fxboard') });
      const { checksum } = await commitDirectory(repo, tree, { ref: FIXTURE_REF, metadata, subject: `fx ${version}`, ...(parent ? { parent } : {}) });
      await signCommitEd25519(repo, checksum, key.privateKey);
      const deltas = parent ? [{ fromVersion: '1.0', fromCommit: parent, bytes: (await generateReleaseDelta(repo, { from: parent, to: checksum })).bytes }] : [];
      const jws = await signDocument('release', manifest(FIXTURE_REF, version, checksum, { deltas, ...(await releaseSizes(repo, checksum)) }), key);
      await mkdir(join(dir, 'releases', FIXTURE_REF), { recursive: true });
      await writeFile(join(dir, 'releases', FIXTURE_REF, `${version}.jws`), `${jws}\n`);
      commits[version] = checksum;
      parent = checksum;
    }
    await regenerateSummary(repo);
    await signSummary(repo.path, key);
  } finally {
    repo.close();
  }
  await mkdir(join(dir, 'groups', 'lab'), { recursive: true });
  await writeFile(join(dir, 'groups', 'lab', 'release.jws'), await readFile(join(dir, 'releases', FIXTURE_REF, '2.0.jws')));
  return { dir, keyDir, key, ref: FIXTURE_REF, commits, repo: join(dir, 'repo') };
}

/** Re-signs one release of the fixture with `edit` applied to its document (and signing options). */
export async function resign(f: PublishedFixture, version: string, edit: (m: ReleaseManifest) => ReleaseManifest, opts: { now?: Date; expiresInSeconds?: number } = {}): Promise<string> {
  const file = join(f.dir, 'releases', f.ref, `${version}.jws`);
  const payload = JSON.parse(Buffer.from((await readFile(file, 'utf8')).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  for (const k of ['iat', 'nbf', 'exp', 'jti']) delete payload[k];
  const jws = await signDocument('release', edit(payload as unknown as ReleaseManifest), f.key, opts);
  await writeFile(file, `${jws}\n`);
  return file;
}
