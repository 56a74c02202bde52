import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { downloadFile, fetchBytes } from '../../common/http.js';
import type { TrustedKeys } from '../../contract/index.js';
import { applyDeltaOffline, decodeSuperblock, pull, staticDeltaPath, verifyCommitEd25519, type Repo, type Superblock, type Sysroot } from '../../node-ostree/index.js';
import { withRepo } from './current.js';
import type { UpdatePlan } from './preflight.js';

/**
 * Brings the release's commit into the sysroot's repository and proves it signed
 * (docs/agent.md, "Applying an update"). With a delta from the running commit, the superblock and
 * parts are fetched by us (each part resumable and checked against the SHA-256 the superblock
 * lists) and applied offline: libostree 2022.7's own pull of a delta fetches objects twice
 * (docs/releases.md, "Deltas"). Without one, libostree pulls the commit by its checksum, which
 * checks every object against it. Either way the commit's ed25519 signature must verify with a
 * trusted key before the commit gets a ref; an unsigned one is left unreferenced for the next
 * cleanup to delete, and is never deployed.
 *
 * @example
 * const r = await download({ plan, remote: 'http://updates.example/ota', sysroot, trusted, downloadDir: '/var/lib/ota/download' });
 */
export interface DownloadInput {
  plan: UpdatePlan;
  /** The published directory's URL (its `repo/` is below it). */
  remote: string;
  sysroot: Sysroot;
  trusted: TrustedKeys;
  /** Where delta files wait until applied; a cut download resumes from what is here. */
  downloadDir: string;
  options?: DownloadOptions;
}

export interface DownloadOptions {
  onEvent?: EventSink;
  /** HTTP retries per file (default 3); each resumes from what arrived. */
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DownloadResult {
  commit: string;
  via: 'delta' | 'pull';
  /** Bytes received in this run (a resumed run counts only what it fetched). */
  bytes: number;
  /** Bytes found already downloaded by an earlier run. */
  resumedBytes: number;
}

export async function download(input: DownloadInput): Promise<DownloadResult> {
  const { plan, sysroot } = input;
  const commit = plan.release.commit;
  const result = await withRepo(sysroot, async (repo) => {
    const got = plan.source.kind === 'delta' ? await viaDelta(input, repo, plan.source.fromCommit) : await viaPull(input, repo);
    const check = verifyCommitEd25519(repo, commit, [...input.trusted.byKid.values()].map((k) => k.publicKey));
    if (!check.valid) {
      throw new OtaError('ERR_OTA_SIGNATURE', `commit ${commit} of release ${plan.release.ref} ${plan.release.version} has no ed25519 signature by a trusted key (${check.signatures} signature(s) checked)`, {
        hint: 'the published repository was changed after publishing, or signed with a key this device does not trust; it is not deployed',
      });
    }
    repo.setRef(plan.release.ref, commit);
    return got;
  });
  await rm(deltaDir(input), { recursive: true, force: true });
  return result;
}

function deltaDir(input: DownloadInput): string {
  return join(input.downloadDir, input.plan.release.commit);
}

function repoUrl(remote: string): string {
  return `${remote.replace(/\/+$/, '')}/repo`;
}

async function viaDelta(input: DownloadInput, repo: Repo, fromCommit: string): Promise<DownloadResult> {
  const commit = input.plan.release.commit;
  const o = input.options ?? {};
  const emit = o.onEvent ?? silent;
  const base = `${repoUrl(input.remote)}/${staticDeltaPath(fromCommit, commit)}`;
  const dir = deltaDir(input);
  await mkdir(dir, { recursive: true });
  const sbBytes = await fetchBytes(`${base}/superblock`, { retries: o.retries, backoffMs: o.backoffMs, timeoutMs: o.timeoutMs, signal: o.signal });
  const sb = checkSuperblock(decodeSuperblock(sbBytes), fromCommit, commit, base);
  await writeFileAtomic(join(dir, 'superblock'), sbBytes);
  const total = sb.parts.reduce((s, p) => s + p.compressedBytes, 0);
  let bytes = sbBytes.length;
  let resumedBytes = 0;
  let done = 0;
  for (const part of sb.parts) {
    const dest = join(dir, String(part.index));
    if (await holds(dest, part.compressedBytes, part.checksum)) {
      resumedBytes += part.compressedBytes;
      done += part.compressedBytes;
      continue;
    }
    const url = `${base}/${part.index}`;
    const r = await downloadFile(url, dest, {
      expectedSize: part.compressedBytes, expectedSha256: part.checksum, retries: o.retries, backoffMs: o.backoffMs, timeoutMs: o.timeoutMs, signal: o.signal,
      onBytes: (n) => {
        bytes += n;
        done += n;
        emit({ phase: 'fetch', message: `delta part ${part.index + 1}/${sb.parts.length}`, url, bytes: done, current: done, total });
      },
    });
    if (r.status === 'missing') throw new OtaError('ERR_OTA_FETCH', `${url} does not exist on the server`, { hint: 'the published directory lacks a delta its release manifest lists; run `ota verify` on it' });
    resumedBytes += r.resumedFrom;
    done += r.resumedFrom;
  }
  emit({ phase: 'import', message: `applying the delta to ${commit.slice(0, 12)}`, total: sb.parts.length });
  try {
    await applyDeltaOffline(repo, dir);
  } catch (e) {
    throw withContext(e, `release ${input.plan.release.ref} ${input.plan.release.version}`);
  }
  return { commit, via: 'delta', bytes, resumedBytes };
}

/** The superblock must be the delta the manifest names, and applicable offline (no fallback objects). */
function checkSuperblock(sb: Superblock, fromCommit: string, commit: string, where: string): Superblock {
  if (sb.to !== commit || sb.from !== fromCommit) {
    throw new OtaError('ERR_OTA_HASH', `the delta at ${where} goes ${sb.from ?? 'from scratch'} -> ${sb.to}, not ${fromCommit} -> ${commit}`, { hint: 'the published directory was changed after publishing; run `ota verify` on it' });
  }
  if (sb.fallbacks.length > 0) {
    throw new OtaError('ERR_OTA_HASH', `the delta at ${where} needs ${sb.fallbacks.length} fallback object(s), which libostree does not apply offline`, { hint: 'publish with this project\'s `ota publish`, which makes deltas without fallbacks (docs/releases.md, "Deltas")' });
  }
  return sb;
}

/** A part an earlier run finished (landed after its check, so only damage would make it wrong). */
async function holds(path: string, size: number, sha256: string): Promise<boolean> {
  try {
    if ((await stat(path)).size !== size) return false;
  } catch {
    return false;
  }
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex') === sha256;
}

async function viaPull(input: DownloadInput, repo: Repo): Promise<DownloadResult> {
  const commit = input.plan.release.commit;
  const emit = input.options?.onEvent ?? silent;
  const url = repoUrl(input.remote);
  const p = await pull(repo, url, {
    refs: [commit],
    // No delta from the running commit exists (else viaDelta): objects only, never libostree's racing delta pull.
    disableStaticDeltas: true,
    signal: input.options?.signal,
    onProgress: (x) => emit({ phase: 'fetch', message: `pulling ${commit.slice(0, 12)}: ${x.fetched}/${x.requested} objects`, url, bytes: x.bytes, current: x.fetched, total: x.requested }),
  });
  return { commit, via: 'pull', bytes: p.bytes, resumedBytes: 0 };
}
