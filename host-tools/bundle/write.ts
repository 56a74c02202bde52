import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { fsReason } from '../../common/fs-errors.js';
import { generateDelta, pull, Repo } from '../../node-ostree/index.js';
import { TarWriter } from '../../node-ostree/tar-writer.js';
import { loadTrustedKeys, readSigned, type ReleaseManifest } from '../../contract/index.js';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, BUNDLE_MEMBERS, checkDeltaParts, readSuperblock, type BundleHeader, type Superblock } from '../../bundle/index.js';
import { requirePublished } from '../publish/published-dir.js';
import { findRelease } from './published-dir.js';
import { deltaDir } from '../publish/delta.js';

/**
 * `ota bundle`: one file holding a release's signed manifest and a static delta (from an earlier
 * release, or the whole commit) that a device applies without a network (docs/releases.md,
 * "Bundles"). The published delta is reused when it is complete in itself; otherwise a delta
 * without fallback objects is generated in a temporary repository, never in the published one.
 *
 * @example
 * const r = await writeBundle({ published: '/srv/ota', version: '1.3', from: '1.2', output: 'update.otab' });
 * console.log(r.bytes, r.deltaSource);
 */
export interface BundleOptions {
  published: string;
  version: string;
  ref?: string;
  /** The version the device has; omitted: the bundle holds the whole commit. */
  from?: string;
  output: string;
  onEvent?: EventSink;
}

export interface BundleResult {
  output: string;
  header: BundleHeader;
  bytes: number;
  parts: number;
  /** `published`: the delta from repo/deltas/; `generated`: made for the bundle. */
  deltaSource: 'published' | 'generated';
}

/** No object is left out of a bundle's delta: ostree reads this many 10^6 bytes as the fallback threshold. */
const NO_FALLBACK_BYTES = 4e15;

async function readManifest(published: string, file: string): Promise<ReleaseManifest> {
  const trusted = await loadTrustedKeys(join(published, 'keys.jwks'));
  try {
    return (await readSigned('release', (await readFile(file, 'utf8')).trim(), trusted)).doc;
  } catch (e) {
    throw withContext(e, `bundling ${file}`);
  }
}

async function usablePublishedDelta(dir: string): Promise<Superblock | undefined> {
  const sb = await readSuperblock(dir).catch(() => undefined);
  if (!sb || sb.fallbacks.length > 0) return undefined;
  return (await checkDeltaParts(dir, sb)).length === 0 ? sb : undefined;
}

/** Generates from -> to in a temporary archive repository pulled from the published one; returns its delta directory. */
async function generateSelfContained(repoPath: string, work: string, from: string | null, to: string): Promise<string> {
  const repo = await Repo.create(join(work, 'repo'), 'archive', { disableFsync: true });
  try {
    await pull(repo, repoPath, { refs: from ? [from, to] : [to] });
    await generateDelta(repo, { ...(from ? { from } : {}), to, minFallbackSizeBytes: NO_FALLBACK_BYTES });
    return join(repo.path, deltaDir(from, to));
  } finally {
    repo.close();
  }
}

async function writeTar(output: string, members: { name: string; file?: string; data?: Buffer }[]): Promise<number> {
  const tmp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // flush: the file is fsynced before it is closed, so the rename below publishes complete bytes.
    const tar = new TarWriter({ output: createWriteStream(tmp, { mode: 0o644, flush: true }) });
    for (const m of members) {
      const size = m.data ? m.data.length : (await stat(m.file!)).size;
      await tar.addEntry({ path: m.name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size }, m.data ?? createReadStream(m.file!));
    }
    await tar.finish();
    await rename(tmp, output);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    if (e instanceof OtaError || !(e as NodeJS.ErrnoException).code) throw e;
    throw new OtaError('ERR_OTA_IO', `cannot write bundle ${output}: ${fsReason(e)}`, { cause: e });
  }
  const dh = await open(dirname(output), 'r');
  await dh.sync().finally(() => dh.close());
  return (await stat(output)).size;
}

/**
 * Writes the bundle atomically (temporary file, fsync, rename): a failure leaves no file or the
 * previous one.
 *
 * @throws OtaError `ERR_OTA_PUBLISHED` for a directory that is not ours, `ERR_OTA_USAGE` for an unknown version, the
 *   contract's errors for a manifest that does not verify with the directory's keys.jwks.
 */
export async function writeBundle(opts: BundleOptions): Promise<BundleResult> {
  await requirePublished(opts.published);
  const outDir = await stat(dirname(opts.output)).catch((e: unknown) => e as Error);
  if (outDir instanceof Error || !outDir.isDirectory()) {
    throw new OtaError('ERR_OTA_USAGE', `cannot write bundle ${opts.output}: ${outDir instanceof Error ? fsReason(outDir) : 'its parent is not a directory'}`, { hint: 'give -o a file in an existing directory' });
  }
  // Found here, not at the final rename after minutes of delta generation.
  if ((await stat(opts.output).catch(() => undefined))?.isDirectory()) {
    throw new OtaError('ERR_OTA_USAGE', `cannot write bundle ${opts.output}: it is a directory`, { hint: 'give -o a file name, e.g. DIR/update.otab' });
  }
  const release = await findRelease(opts.published, opts.version, opts.ref);
  const manifest = await readManifest(opts.published, release.file);
  const from = opts.from === undefined ? null : await readManifest(opts.published, (await findRelease(opts.published, opts.from, release.ref)).file);
  const repoPath = join(opts.published, 'repo');
  const header: BundleHeader = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    ref: release.ref,
    version: manifest.version,
    commit: manifest.commit,
    from: from ? { version: from.version, commit: from.commit } : null,
    parts: 0,
  };
  const work = await mkdtemp(join(tmpdir(), 'ota-bundle-'));
  try {
    const published = join(repoPath, deltaDir(header.from?.commit ?? null, header.commit));
    const sb = await usablePublishedDelta(published);
    const onEvent = opts.onEvent ?? silent;
    onEvent({ phase: 'bundle', release: `${header.ref} ${header.version}`, message: sb ? `using the published delta ${header.from ? `from ${header.from.version}` : 'of the whole commit'}` : `generating a delta ${header.from ? `from ${header.from.version}` : 'of the whole commit'} without fallback objects` });
    const dir = sb ? published : await generateSelfContained(repoPath, work, header.from?.commit ?? null, header.commit);
    const superblock = sb ?? (await readSuperblock(dir));
    if (superblock.to !== manifest.commit) throw new Error(`delta in ${dir} leads to ${superblock.to}, not ${manifest.commit}, this is a bug`);
    header.parts = superblock.parts.length;
    const bytes = await writeTar(opts.output, [
      { name: BUNDLE_MEMBERS.header, data: Buffer.from(`${JSON.stringify(header, null, 2)}\n`) },
      { name: BUNDLE_MEMBERS.manifest, file: release.file },
      { name: BUNDLE_MEMBERS.superblock, file: join(dir, 'superblock') },
      ...superblock.parts.map((p) => ({ name: BUNDLE_MEMBERS.part(p.index), file: join(dir, String(p.index)) })),
    ]);
    return { output: opts.output, header, bytes, parts: header.parts, deltaSource: sb ? 'published' : 'generated' };
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw withContext(e, `bundling version ${opts.version}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
