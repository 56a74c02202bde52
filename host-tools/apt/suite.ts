import { createHash } from 'node:crypto';
import { OtaError } from '../../common/errors.js';
import { fetchBytes } from '../../common/http.js';
import type { ProxyPolicy } from '../../common/proxy.js';
import { decompress, type Compression } from './decompress.js';
import type { IndexCache } from './index-cache.js';
import type { PackagesIndex } from './packages-index.js';
import { parseRelease, verifyDetached, verifyInRelease, type ReleaseInfo } from './release.js';

/**
 * Loads one suite of one archive for one architecture: InRelease (verified), then each
 * component's Packages (xz, else gz, else plain), checked against the hash InRelease lists and
 * cached by that hash. A second run fetches only InRelease; `offline` fetches nothing and uses
 * the last InRelease that verified. Two calls (`loadRelease`, then `loadIndices`), so that the
 * caller can decide which components to read from what the Release lists.
 *
 * @example
 * const r = await loadRelease({ uri, suite: 'bookworm', keyrings }, { cache });
 * const indices = await loadIndices(r, r.release.components.includes('contrib') ? ['main', 'contrib'] : ['main'], 'arm64', { cache });
 */
export interface SuiteRequest {
  uri: string;
  suite: string;
  keyrings: Buffer[];
}

/** One component's Packages index of a suite. */
export interface SuiteIndex {
  component: string;
  index: PackagesIndex;
}

/** A suite's verified Release, and where its index files are. */
export interface LoadedRelease {
  uri: string;
  suite: string;
  /** `<uri>/dists/<suite>`, or the flat repository's folder. */
  base: string;
  inReleaseSha256: string;
  release: ReleaseInfo;
}

export type SuiteEvent =
  | { kind: 'fetched'; url: string; bytes: number }
  | { kind: 'cached'; what: string }
  | { kind: 'warning'; message: string };

export interface LoadOptions {
  cache: IndexCache;
  offline?: boolean;
  /** Default: the proxy variables of the environment (see `common/proxy.ts`). */
  proxy?: ProxyPolicy;
  now?: Date;
  onEvent?: (e: SuiteEvent) => void;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Fetches (or, offline, reads from the cache) and verifies a suite's InRelease. */
export async function loadRelease(req: SuiteRequest, opts: LoadOptions): Promise<LoadedRelease> {
  const flat = req.suite.endsWith('/');
  const base = flat ? `${req.uri}/${req.suite.replace(/^\.?\/$/, '').replace(/\/$/, '')}`.replace(/\/$/, '') : `${req.uri}/dists/${req.suite}`;
  const where = `${base}/InRelease`;
  const emit = opts.onEvent ?? (() => {});

  let got: FetchedRelease;
  if (opts.offline) {
    const cached = await opts.cache.getRelease(req.uri, req.suite);
    if (!cached) {
      throw new OtaError('ERR_OTA_FETCH', `no cached index for ${req.uri} ${req.suite}, and --offline forbids fetching it`, {
        hint: 'run once without --offline to fill the cache',
      });
    }
    const signed = cached.signature
      ? await verifyDetached(cached.raw, cached.signature, req.keyrings, where)
      : await verifyInRelease(cached.raw, req.keyrings, where);
    got = { ...cached, signed };
    emit({ kind: 'cached', what: where });
  } else {
    got = await fetchRelease(base, req.keyrings, opts);
  }
  const { raw, signed } = got;
  const release = parseRelease(signed, where);
  const now = opts.now ?? new Date();
  if (release.validUntil && release.validUntil < now) {
    if (opts.offline) emit({ kind: 'warning', message: `${where} expired on ${release.validUntil.toISOString()} (used anyway: --offline)` });
    else {
      throw new OtaError('ERR_OTA_SIGNATURE', `${where} expired on ${release.validUntil.toISOString()} (Valid-Until)`, {
        hint: 'the mirror has stopped updating, or the clock is wrong; use a current mirror',
      });
    }
  }
  if (!opts.offline) await opts.cache.putRelease(req.uri, req.suite, raw, got.signature);
  return { uri: req.uri, suite: req.suite, base, inReleaseSha256: sha256(raw), release };
}

/** Each component's Packages index for `arch`, as the Release lists it (a flat repository has one, whatever `components` says). */
export async function loadIndices(r: LoadedRelease, components: string[], arch: string, opts: LoadOptions): Promise<SuiteIndex[]> {
  const indices: SuiteIndex[] = [];
  for (const component of r.suite.endsWith('/') ? [''] : components) {
    indices.push({ component, index: await loadPackages(r, component, arch, opts) });
  }
  return indices;
}

interface FetchedRelease {
  raw: Buffer;
  signature?: Buffer;
  signed: string;
}

async function fetchRelease(base: string, keyrings: Buffer[], opts: LoadOptions): Promise<FetchedRelease> {
  const emit = opts.onEvent ?? (() => {});
  const proxy = opts.proxy;
  const inRelease = await fetchBytes(`${base}/InRelease`, { allowMissing: true, proxy });
  if (inRelease) {
    emit({ kind: 'fetched', url: `${base}/InRelease`, bytes: inRelease.length });
    return { raw: inRelease, signed: await verifyInRelease(inRelease, keyrings, `${base}/InRelease`) };
  }
  // Older archives publish Release + Release.gpg (a detached signature) instead.
  const release = await fetchBytes(`${base}/Release`, { allowMissing: true, proxy });
  if (!release) {
    throw new OtaError('ERR_OTA_FETCH', `${base} has neither InRelease nor Release`, {
      hint: 'check the source uri and suite name',
    });
  }
  const sig = await fetchBytes(`${base}/Release.gpg`, { allowMissing: true, proxy });
  if (!sig) {
    throw new OtaError('ERR_OTA_SIGNATURE', `${base}/Release is not signed (no InRelease, no Release.gpg)`, {
      hint: 'ota refuses unsigned archive metadata',
    });
  }
  emit({ kind: 'fetched', url: `${base}/Release`, bytes: release.length + sig.length });
  return { raw: release, signature: sig, signed: await verifyDetached(release, sig, keyrings, `${base}/Release`) };
}

interface Variant {
  ext: Compression;
  path: string;
  entry: { sha256: string; size: number };
}

async function loadPackages(r: LoadedRelease, component: string, arch: string, opts: LoadOptions): Promise<PackagesIndex> {
  const { base, release } = r;
  const where = `${base}/InRelease`;
  const dir = component === '' ? '' : `${component}/binary-${arch}/`;
  const plain = release.files.get(`${dir}Packages`);
  const variants: Variant[] = (['xz', 'gz', ''] as const).flatMap((ext) => {
    const path = `${dir}Packages${ext ? `.${ext}` : ''}`;
    const entry = release.files.get(path);
    return entry ? [{ ext, path, entry }] : [];
  });
  if (variants.length === 0) {
    // The file list decides, not the Components field: Debian's security archive names its
    // components "updates/main" while the files live under main/.
    throw new OtaError('ERR_OTA_INDEX', `${where} lists no Packages index for ${component || 'the flat repository'} on ${arch}`, {
      hint: `check the component and that the archive carries ${arch} (components: ${release.components.join(' ') || '-'}; architectures: ${release.architectures.join(' ') || '-'})`,
    });
  }
  // The key is the uncompressed hash when InRelease lists it: the same index fetched as .xz or
  // .gz shares one entry. Else each compressed file is its own entry, kept compressed so that
  // what is read back can be checked against the hash InRelease lists for it.
  const keys = plain ? [plain.sha256] : variants.map(cacheKey);
  const what = `${base}/${dir}Packages`;
  for (const key of keys) {
    const cached = await fromCache(key, what, where, opts);
    if (cached) return cached;
  }
  if (opts.offline) {
    throw new OtaError('ERR_OTA_FETCH', `${what} is not in the cache, and --offline forbids fetching it`, {
      hint: 'run once without --offline to fill the cache',
    });
  }
  return fetchPackages(base, variants, { release, plain, opts });
}

const cacheKey = (v: Variant) => `${v.ext}-${v.entry.sha256}`;

/** A cached index if it is still what InRelease lists; a changed one is dropped (and, offline, an error). */
async function fromCache(key: string, what: string, where: string, opts: LoadOptions): Promise<PackagesIndex | undefined> {
  const cached = await opts.cache.getPackages(key);
  if (cached.kind === 'hit') {
    opts.onEvent?.({ kind: 'cached', what });
    return cached.index;
  }
  if (cached.kind === 'damaged') {
    const said = `the cached ${what} (${cached.path}) has SHA256 ${cached.sha256}, not the ${key.replace(/^[a-z]*-/, '')} that ${where} lists`;
    if (opts.offline) {
      throw new OtaError('ERR_OTA_HASH', `${said}; removed it, and --offline forbids fetching it again`, {
        hint: 'something changed the cache; run once without --offline to fetch the index again',
      });
    }
    opts.onEvent?.({ kind: 'warning', message: `${said}; removed it and fetched it again` });
  }
  return undefined;
}

/**
 * Like apt, a variant that is missing or does not match is not the end: the next listed one
 * may be fine (a mirror mid-sync often has a stale .xz beside a current .gz). What verifies is
 * used and cached; when none does, the first hash mismatch is the error worth reporting.
 */
async function fetchPackages(
  base: string,
  variants: Variant[],
  ctx: { release: ReleaseInfo; plain: { sha256: string } | undefined; opts: LoadOptions },
): Promise<PackagesIndex> {
  const { release, plain, opts } = ctx;
  const failures: OtaError[] = [];
  for (const v of variants) {
    const entry = v.entry;
    const byHash = release.acquireByHash ? `${base}/${v.path.replace(/[^/]*$/, '')}by-hash/SHA256/${entry.sha256}` : undefined;
    const url = `${base}/${v.path}`;
    let body = byHash ? await fetchBytes(byHash, { allowMissing: true, proxy: opts.proxy }) : undefined;
    body ??= await fetchBytes(url, { allowMissing: true, proxy: opts.proxy });
    if (!body) {
      failures.push(new OtaError('ERR_OTA_FETCH', `${url} is listed in InRelease but missing on the server`));
      continue;
    }
    opts.onEvent?.({ kind: 'fetched', url, bytes: body.length });
    const got = sha256(body);
    if (got !== entry.sha256 || body.length !== entry.size) {
      failures.push(
        new OtaError('ERR_OTA_HASH', `${url} does not match InRelease: SHA256 ${got} (${body.length} bytes), expected ${entry.sha256} (${entry.size} bytes)`, {
          hint: 'the mirror may be in the middle of a sync, or something altered the file in transit; retry later or use another mirror',
        }),
      );
      continue;
    }
    const text = (await decompress(body, v.ext, url)).toString('utf8');
    if (plain && sha256(text) !== plain.sha256) {
      failures.push(new OtaError('ERR_OTA_HASH', `${url} decompresses to content whose SHA256 differs from InRelease's entry for ${v.path.replace(/\.[a-z]+$/, '')}`));
      continue;
    }
    for (const f of failures) opts.onEvent?.({ kind: 'warning', message: `${f.message}; used ${url} instead` });
    if (plain) return opts.cache.putPackages(plain.sha256, { stored: Buffer.from(text, 'utf8'), text });
    return opts.cache.putPackages(cacheKey(v), { stored: body, text });
  }
  throw failures.find((f) => f.code === 'ERR_OTA_HASH') ?? failures[failures.length - 1]!;
}
