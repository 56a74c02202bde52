import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic-write.js';
import type { EventSink } from '../../common/events.js';
import { diffLocks } from '../lock/lockfile.js';
import { installedPackages, packageMap } from '../compose/diff.js';
import { signDocument } from '../../contract/index.js';
import { decodeMetadata, encodeMetadata, GVariantValue, pull, readCommit, Repo, signCommitEd25519, signCommitGpg, writeCommit } from '../../node-ostree/index.js';
import { generateReleaseDelta } from './delta.js';
import type { PublishKeys } from './keys.js';
import { releaseDocument, type ReleaseDocument } from './manifest.js';
import type { PublishPlan, StepName } from './plan.js';
import { MARKER, type PublishedPaths } from './published-dir.js';
import { releaseSizes } from './sizes.js';
import { installSignature, installSummary, removeStage, stageSummary, type StagedSummary } from './summary.js';

/**
 * Runs a publish plan's steps in order (docs/releases.md, "The published directory"): each
 * writes new files only, or swaps one file atomically, so stopping after any step leaves the
 * previous release valid. `stopAfter` is that stop, for the tests that prove it.
 *
 * @example
 * const r = await executePublish(plan, { paths, buildRepo: 'build/repo', keys, onEvent, now: new Date() });
 */
export interface ExecuteOptions {
  paths: PublishedPaths;
  buildRepo: string;
  keys: PublishKeys;
  onEvent: EventSink;
  now: Date;
  /** Stop after this many steps (a test seam: what a kill at that point leaves). */
  stopAfter?: number;
}

export interface DeltaResult {
  fromVersion: string;
  fromCommit: string;
  bytes: number;
  parts: number;
  fallbackBytes: number;
}

export interface ExecuteResult {
  commit: string;
  deltas: DeltaResult[];
  manifest: ReleaseDocument;
  jws: string;
  /** The steps that ran. */
  steps: StepName[];
}

interface Ctx extends ExecuteOptions {
  plan: PublishPlan;
  repo?: Repo;
  commit?: string;
  deltas: DeltaResult[];
  manifest?: ReleaseDocument;
  jws?: string;
  staged?: StagedSummary;
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new Error(`publish step ran before ${what} was made, this is a bug`);
  return v;
};

async function repoOf(c: Ctx): Promise<Repo> {
  c.repo ??= await Repo.open(c.paths.repo);
  return c.repo;
}

const STEP: Record<StepName, (c: Ctx) => Promise<void>> = {
  async init(c) {
    // The marker first: a directory with only the marker is ours, and the next run completes it.
    // keys.jwks before the repository: a directory with a repository is never initialised again.
    await mkdir(c.paths.root, { recursive: true });
    await writeFileAtomic(c.paths.marker, `${JSON.stringify(MARKER)}\n`);
    await writeFileAtomic(c.paths.keys, `${JSON.stringify({ keys: [c.keys.release.publicJwk] }, null, 2)}\n`);
    (await Repo.create(c.paths.repo, 'archive')).close();
  },
  async objects(c) {
    await pull(await repoOf(c), c.buildRepo, { refs: [c.plan.built.checksum] });
  },
  async commit(c) {
    const repo = await repoOf(c);
    const built = readCommit(repo, c.plan.built.checksum);
    const metadata: Record<string, GVariantValue> = {};
    for (const [k, v] of built.metadata) if (!k.startsWith('ostree.ref-binding') && k !== 'ostree.collection-binding') metadata[k] = v;
    metadata.version = new GVariantValue('s', c.plan.version);
    metadata['ota.built-commit'] = new GVariantValue('s', built.checksum);
    metadata['ostree.ref-binding'] = new GVariantValue('as', [c.plan.ref]);
    const r = await writeCommit(repo, { contents: built.rootContents, meta: built.rootMeta }, {
      ...(c.plan.parent ? { parent: c.plan.parent.commit } : {}),
      subject: built.subject,
      body: built.body,
      timestamp: built.timestamp,
      metadata: encodeMetadata(metadata),
    });
    c.commit = r.checksum;
  },
  async sign(c) {
    const repo = await repoOf(c);
    const commit = need(c.commit, 'the commit');
    await signCommitEd25519(repo, commit, c.keys.seed);
    // A rerun after a publish stopped past this step meets the same commit (same inputs, same
    // checksum), already signed: libostree would add a second GPG signature.
    if (c.keys.gpg && !hasGpgSignature(repo, commit)) await signCommitGpg(repo, commit, c.keys.gpg.keyId, c.keys.gpg.homedir);
  },
  async deltas(c) {
    const repo = await repoOf(c);
    for (const [i, from] of c.plan.deltaFrom.entries()) {
      const d = await generateReleaseDelta(repo, { from: from.commit, to: need(c.commit, 'the commit') });
      c.deltas.push({ fromVersion: from.version, fromCommit: from.commit, bytes: d.bytes, parts: d.parts, fallbackBytes: d.fallbackBytes });
      c.onEvent({ phase: 'publish', release: release(c), message: `delta from ${from.version}`, current: i + 1, total: c.plan.deltaFrom.length, bytes: d.bytes });
    }
  },
  async manifest(c) {
    const repo = await repoOf(c);
    const commit = need(c.commit, 'the commit');
    const packages = await installedPackages(repo, commit, `${c.plan.ref} ${c.plan.version}`);
    const before = c.plan.parent ? packageMap(await installedPackages(repo, c.plan.parent.commit, `${c.plan.ref} ${c.plan.parent.version}`)) : new Map();
    c.manifest = releaseDocument({
      ref: c.plan.ref, version: c.plan.version, commit, subject: c.plan.built.subject, board: c.plan.built.board, arch: c.plan.arch,
      minVersion: c.plan.floor, group: c.plan.group, publishedAt: c.now,
      deltas: c.deltas.map((d) => ({ fromVersion: d.fromVersion, fromCommit: d.fromCommit, bytes: d.bytes })),
      sizes: await releaseSizes(repo, commit), packages, previousVersion: c.plan.parent?.version ?? null, diff: diffLocks(before, packageMap(packages)),
    });
    c.jws = await signDocument('release', c.manifest, c.keys.release, { now: c.now, ...(c.plan.expiresInSeconds !== undefined ? { expiresInSeconds: c.plan.expiresInSeconds } : {}) });
    await writeFileAtomic(c.paths.release(c.plan.ref, c.plan.version), `${c.jws}\n`);
  },
  async 'summary-stage'(c) {
    const refs = (await repoOf(c)).listRefs();
    refs.set(c.plan.ref, need(c.commit, 'the commit'));
    c.staged = await stageSummary(c.paths.root, refs, c.keys);
  },
  async ref(c) {
    (await repoOf(c)).setRef(c.plan.ref, need(c.commit, 'the commit'));
  },
  async 'summary-sig-both'(c) {
    await installSignature(c.paths.repo, need(c.staged, 'the summary'), { keepOld: true });
  },
  async summary(c) {
    await installSummary(c.paths.repo, need(c.staged, 'the summary'));
  },
  async 'summary-sig'(c) {
    await installSignature(c.paths.repo, need(c.staged, 'the summary'), { keepOld: false });
  },
  async group(c) {
    await writeFileAtomic(c.paths.group(need(c.plan.group ?? undefined, 'the group')), `${need(c.jws, 'the manifest')}\n`);
  },
  async cleanup(c) {
    await removeStage(c.paths.root);
  },
};

const DOING: Record<StepName, string> = {
  init: 'creating the published directory', objects: 'copying the commit', commit: 'writing the published commit', sign: 'signing the commit',
  deltas: 'generating static deltas', manifest: 'writing the release manifest', 'summary-stage': 'making the summary', ref: 'moving the ref',
  'summary-sig-both': 'signing the summary', summary: 'installing the summary', 'summary-sig': 'installing the summary signature',
  group: 'updating the group release', cleanup: 'cleaning up',
};

function hasGpgSignature(repo: Repo, commit: string): boolean {
  const meta = repo.readDetachedMetadata(commit);
  return meta !== undefined && decodeMetadata(meta).has('ostree.gpgsigs');
}

const release = (c: Ctx) => `${c.plan.ref} ${c.plan.version}`;

export async function executePublish(plan: PublishPlan, options: ExecuteOptions): Promise<ExecuteResult> {
  const c: Ctx = { ...options, plan, deltas: [] };
  const ran: StepName[] = [];
  try {
    for (const [i, step] of plan.steps.entries()) {
      if (options.stopAfter !== undefined && i >= options.stopAfter) break;
      c.onEvent({ phase: 'publish', release: release(c), message: DOING[step], current: i + 1, total: plan.steps.length });
      await STEP[step](c);
      ran.push(step);
    }
  } finally {
    c.repo?.close();
  }
  return { commit: c.commit ?? '', deltas: c.deltas, manifest: c.manifest!, jws: c.jws ?? '', steps: ran };
}
