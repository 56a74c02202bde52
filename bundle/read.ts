import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { OtaError } from '../common/errors.js';
import { fsReason } from '../common/fs-errors.js';
import { applyDeltaOffline, type Repo } from '../node-ostree/index.js';
import { BUNDLE_MEMBERS, bundleHeaderSchema, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, MAX_SUPERBLOCK_BYTES, type BundleHeader } from './format.js';
import { decodeSuperblock, type Superblock } from './static-delta.js';
import { listTarMembers, type TarMember } from './tar-read.js';

/**
 * The read side of a bundle, for `ota verify` and for the device agent's offline install: open
 * it (structure, header, manifest text, superblock), check its parts, and apply its delta to a
 * repository (docs/releases.md, "Bundles"). It imports only common/ and node-ostree/, so both halves
 * share it (bundle/index.ts).
 *
 * Trust: the caller verifies `manifestJws` (contract's readSigned) and compares the manifest's
 * commit with `bundle.commit`, which is the SHA-256 of the commit object in the superblock; the
 * parts are checked against the superblock, and libostree checks every object it writes.
 *
 * @example
 * const b = await openBundle('/media/usb/update.otab');
 * const { doc } = await readSigned('release', b.manifestJws, trusted);
 * if (doc.commit !== b.commit) throw ...;
 * await applyBundle(b, repo);
 */
export interface Bundle {
  path: string;
  header: BundleHeader;
  manifestJws: string;
  superblock: Superblock;
  /** The commit the bundle installs: the checksum of the commit object its delta carries. */
  commit: string;
  members: TarMember[];
}

function invalid(path: string, why: string): OtaError {
  return new OtaError('ERR_OTA_BUNDLE', `${path} is not a valid bundle: ${why}`, { hint: 'copy the bundle again, or make it again with `ota bundle` (docs/releases.md, "Bundles")' });
}

async function readMember(fh: FileHandle, m: TarMember, limit: number): Promise<Buffer> {
  if (m.size > limit) throw new Error(`member ${m.name} over ${limit} bytes`);
  const b = Buffer.alloc(m.size);
  await fh.read(b, 0, m.size, m.offset);
  return b;
}

function parseHeader(path: string, bytes: Buffer): BundleHeader {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(path, `${BUNDLE_MEMBERS.header} is not JSON`);
  }
  const r = bundleHeaderSchema.safeParse(json);
  if (!r.success) throw invalid(path, `${BUNDLE_MEMBERS.header}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** The expected member list, in order: anything missing, extra or out of place is refused. */
function checkMembers(path: string, members: TarMember[], parts: number): void {
  const want = [BUNDLE_MEMBERS.header, BUNDLE_MEMBERS.manifest, BUNDLE_MEMBERS.superblock, ...Array.from({ length: parts }, (_, i) => BUNDLE_MEMBERS.part(i))];
  const got = members.map((m) => m.name);
  const i = want.findIndex((w, k) => got[k] !== w);
  if (i !== -1) throw invalid(path, got[i] === undefined ? `member ${want[i]} is missing` : `member ${i + 1} is ${JSON.stringify(got[i])}, expected ${want[i]}`);
  if (got.length > want.length) throw invalid(path, `unexpected member ${JSON.stringify(got[want.length])}`);
}

async function decodeMembers(path: string, fh: FileHandle, members: TarMember[]): Promise<Omit<Bundle, 'path' | 'members' | 'commit'>> {
  if (members[0]?.name !== BUNDLE_MEMBERS.header) throw invalid(path, `its first member is not ${BUNDLE_MEMBERS.header}`);
  const header = parseHeader(path, await readMember(fh, members[0], MAX_HEADER_BYTES).catch(() => { throw invalid(path, `${BUNDLE_MEMBERS.header} is too large`); }));
  checkMembers(path, members, header.parts);
  const manifestJws = (await readMember(fh, members[1]!, MAX_MANIFEST_BYTES).catch(() => { throw invalid(path, `${BUNDLE_MEMBERS.manifest} is too large`); })).toString('utf8').trim();
  let superblock: Superblock;
  try {
    superblock = decodeSuperblock(await readMember(fh, members[2]!, MAX_SUPERBLOCK_BYTES));
  } catch (e) {
    throw invalid(path, `${BUNDLE_MEMBERS.superblock}: ${(e as Error).message}`);
  }
  return { header, manifestJws, superblock };
}

/**
 * Opens a bundle and checks its structure: a ustar archive (not truncated), the members in order,
 * a strict header, a superblock whose commit hashes to its `to`, and a header that agrees with it.
 *
 * @throws OtaError `ERR_OTA_BUNDLE` naming what is wrong; nothing is written.
 */
export async function openBundle(path: string): Promise<Bundle> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `cannot open bundle ${path}: ${fsReason(e)}`, { cause: e });
  }
  try {
    const members = await listTarMembers(fh, path);
    const { header, manifestJws, superblock } = await decodeMembers(path, fh, members);
    if (superblock.to !== header.commit) throw invalid(path, `its delta leads to commit ${superblock.to}, its header says ${header.commit}`);
    if (superblock.from !== (header.from?.commit ?? null)) throw invalid(path, `its delta starts from ${superblock.from ?? 'nothing'}, its header says ${header.from?.commit ?? 'nothing'}`);
    if (superblock.parts.length !== header.parts) throw invalid(path, `its delta has ${superblock.parts.length} parts, its header says ${header.parts}`);
    if (superblock.fallbacks.length > 0) throw invalid(path, `its delta leaves ${superblock.fallbacks.length} objects to fetch over a network`);
    return { path, header, manifestJws, superblock, commit: superblock.to, members };
  } finally {
    await fh.close();
  }
}

async function sha256Range(path: string, m: TarMember): Promise<string> {
  const h = createHash('sha256');
  if (m.size > 0) await pipeline(createReadStream(path, { start: m.offset, end: m.offset + m.size - 1 }), h);
  return h.digest('hex');
}

/** Checks each part of the bundle's delta against the superblock's size and SHA-256; one line per problem. */
export async function checkBundleParts(bundle: Bundle): Promise<string[]> {
  const problems: string[] = [];
  for (const part of bundle.superblock.parts) {
    const m = bundle.members.find((x) => x.name === BUNDLE_MEMBERS.part(part.index))!;
    if (m.size !== part.compressedBytes) problems.push(`delta part ${part.index} is ${m.size} bytes, its superblock says ${part.compressedBytes}`);
    else if ((await sha256Range(bundle.path, m)) !== part.checksum) problems.push(`delta part ${part.index} does not match its checksum in the superblock`);
  }
  return problems;
}

async function extractDelta(bundle: Bundle, dir: string): Promise<void> {
  for (const m of bundle.members.slice(2)) {
    const name = m.name.slice('delta/'.length);
    const out = await open(join(dir, name), 'w');
    try {
      if (m.size > 0) await pipeline(createReadStream(bundle.path, { start: m.offset, end: m.offset + m.size - 1 }), out.createWriteStream());
    } finally {
      await out.close().catch(() => {});
    }
  }
}

/**
 * Applies the bundle's delta to `repo` offline: checks the parts, extracts the delta into the
 * repository's tmp/ (same filesystem, so a device's RAM-backed /tmp is not filled), applies it
 * with libostree (which checks each part again and every object it writes), and removes the
 * extracted files. The commit's detached metadata (its signatures) comes with the delta.
 * Returns the commit now in `repo`. No ref is set: the caller decides what points at it.
 *
 * @throws OtaError when a part is damaged, when `repo` lacks the commit the delta starts from, or
 *   libostree's own error.
 */
export async function applyBundle(bundle: Bundle, repo: Repo): Promise<string> {
  const bad = await checkBundleParts(bundle);
  if (bad.length > 0) throw new OtaError('ERR_OTA_HASH', `${bundle.path}: ${bad[0]}`, { details: bad, hint: 'copy the bundle again; it was damaged' });
  const { from } = bundle.superblock;
  if (from && !repo.hasObject('commit', from)) {
    throw new OtaError('ERR_OTA_USAGE', `${bundle.path} updates from version ${bundle.header.from?.version} (commit ${from}), which ${repo.path} does not hold`, {
      hint: 'use a bundle made without --from (the whole commit), or one made from the version this repository has',
    });
  }
  if (from && repo.mode === 'archive') {
    // libostree reads the from-commit's files as bare ones while applying such a delta, and aborts the process on an archive repository.
    throw new OtaError('ERR_OTA_USAGE', `${bundle.path} holds a delta from version ${bundle.header.from?.version}, which applies only to a bare repository; ${repo.path} is archive-mode`, {
      hint: 'apply it to the device\'s (bare) repository, or use a bundle made without --from',
    });
  }
  const tmpRoot = join(repo.path, 'tmp');
  await mkdir(tmpRoot, { recursive: true });
  const dir = await mkdtemp(join(tmpRoot, 'ota-bundle-'));
  try {
    await extractDelta(bundle, dir);
    await applyDeltaOffline(repo, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (!repo.readDetachedMetadata(bundle.commit) && bundle.superblock.commitmeta) repo.writeDetachedMetadata(bundle.commit, bundle.superblock.commitmeta);
  return bundle.commit;
}
