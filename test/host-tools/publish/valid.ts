import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { loadTrustedKeys, readSigned, type ReleaseManifest } from '../../../contract/index.js';
import { decodeVariant, GVariantValue, readCommit, Repo, verifyCommitEd25519 } from '../../../node-ostree/index.js';

/**
 * What "the published release is valid" means for the kill tests, checked without ota's own
 * reading code where an independent one exists: the ref's commit is complete and carries a good
 * ed25519 signature; its version's manifest verifies (readSigned) and names it; summary.sig holds
 * a signature of summary's bytes (checked with @noble/ed25519) and the summary's ref points at a
 * signed commit; the group's release.jws verifies and names a signed commit. Returns the
 * version the ref points at.
 */
const SUMMARY_TYPE = '(a(s(taya{sv}))a{sv})';

export async function publishedVersion(pub: string, ref: string, keyDir: string, group?: string): Promise<string> {
  const trusted = await loadTrustedKeys(keyDir);
  const publicRaw = Buffer.from((JSON.parse(await readFile(join(keyDir, 'release.pub.jwks'), 'utf8')) as { keys: { x: string }[] }).keys[0]!.x, 'base64url');
  const repo = await Repo.open(join(pub, 'repo'));
  try {
    const signed = async (commit: string, what: string) => {
      if (!verifyCommitEd25519(repo, commit, [publicRaw]).valid) throw new Error(`${what}: commit ${commit} has no good ed25519 signature`);
      await repo.fsck(commit);
    };
    const head = repo.resolve(ref);
    await signed(head, 'the ref');
    const version = readCommit(repo, head).metadata.get('version')?.value as string;
    const manifest = (await readSigned('release', (await readFile(join(pub, 'releases', ref, `${version}.jws`), 'utf8')).trim(), trusted)).doc as ReleaseManifest;
    if (manifest.commit !== head) throw new Error(`the manifest of ${version} names ${manifest.commit}, the ref is at ${head}`);

    const summary = await readFile(join(pub, 'repo/summary'));
    const sig = new Map(decodeVariant('a{sv}', await readFile(join(pub, 'repo/summary.sig'))) as [string, GVariantValue][]);
    const sigs = (sig.get('ostree.sign.ed25519')?.value ?? []) as Buffer[];
    const good = await Promise.all(sigs.map((s) => ed.verifyAsync(s, summary, publicRaw)));
    if (!good.includes(true)) throw new Error(`summary.sig holds ${sigs.length} ed25519 signatures, none of the summary`);
    const [refs] = decodeVariant(SUMMARY_TYPE, summary) as [[string, [bigint, Buffer, unknown]][]];
    const listed = refs.find(([name]) => name === ref);
    if (!listed) throw new Error(`the summary does not list ${ref}`);
    await signed(Buffer.from(listed[1][1]).toString('hex'), 'the summary');

    if (group) {
      const g = (await readSigned('release', (await readFile(join(pub, 'groups', group, 'release.jws'), 'utf8')).trim(), trusted)).doc as ReleaseManifest;
      await signed(g.commit, `group ${group}`);
    }
    return version;
  } finally {
    repo.close();
  }
}
