import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTarMembers, openBundle } from '../../../bundle/index.js';
import { OtaError } from '../../../common/errors.js';
import { generateSigningKey, loadTrustedKeys, type TrustedKeys } from '../../../contract/index.js';
import { bundleRefusal, deployUpdate, installFromBundle } from '../../../device-agent/update/index.js';
import { ed25519PrivateKey, Repo, signCommitEd25519, verifyCommitEd25519, type Sysroot } from '../../../node-ostree/index.js';
import { TarWriter } from '../../../node-ostree/tar-writer.js';
import { ota } from '../../helpers/cli.js';
import { ostree, ostreeStatus, removeTree } from '../../helpers/ostree-cli.js';
import { device, hashTree, OS, publisher, REF, type Release } from './harness.js';

// An offline install against real parts: releases made by `ota publish`, bundles made by the
// real `ota bundle`, applied to a real sysroot in a temp dir running 1.0; the ostree CLI reads
// the repository afterwards.

let root: string;
let pub: string;
let trusted: TrustedKeys;
const rel: Record<string, Release> = {};
/** Bundles by name: 1.0 -> 1.1 (delta), 1.1 whole, 1.1 -> 1.2 (delta), 1.0 -> 1.1 with a stranger's commit signature. */
const file: Record<string, string> = {};
let n = 0;

async function bundle(name: string, version: string, from?: string, to = pub): Promise<void> {
  file[name] = join(root, `${name}.otab`);
  const r = await ota('bundle', '--to', to, '--version', version, ...(from ? ['--from', from] : []), '-o', file[name]);
  if (r.code !== 0) throw new Error(`ota bundle ${name} failed: ${r.err}`);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-agent-bundle-'));
  const p = await publisher(root);
  pub = p.pub;
  rel['1.0'] = await p.publish('1.0');
  rel['1.1'] = await p.publish('1.1');
  rel['1.2'] = await p.publish('1.2');
  trusted = await loadTrustedKeys(p.keyDir);
  await bundle('delta', '1.1', '1.0');
  await bundle('whole', '1.1');
  await bundle('later', '1.2', '1.1');
  // A copy of the published directory whose 1.1 commit a stranger signed instead (its manifest
  // still the trusted one), its deltas gone so that `ota bundle` makes one carrying that signature.
  const strangers = join(root, 'strangers');
  await cp(pub, strangers, { recursive: true });
  await rm(join(strangers, 'repo/deltas'), { recursive: true, force: true });
  const repo = await Repo.open(join(strangers, 'repo'));
  try {
    repo.writeDetachedMetadata(rel['1.1'].commit, undefined);
    await signCommitEd25519(repo, rel['1.1'].commit, ed25519PrivateKey(generateKeyPairSync('ed25519').privateKey));
  } finally {
    repo.close();
  }
  await bundle('stranger', '1.1', '1.0', strangers);
}, 180_000);

afterAll(async () => {
  for (let i = 0; i < n; i++) await removeTree(join(root, `device-${i}`));
  if (root) await removeTree(root);
});

const device10 = (): Promise<Sysroot> => device(join(root, `device-${n++}`), pub, rel['1.0']!);
const repoOf = (s: Sysroot): string => join(s.path, 'ostree/repo');
const expect11 = { commit: '', fromCommit: '' };

beforeAll(() => {
  expect11.commit = rel['1.1']!.commit;
  expect11.fromCommit = rel['1.0']!.commit;
});

async function rejection(p: Promise<unknown>): Promise<OtaError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(OtaError);
  return e as OtaError;
}

async function refAt(sysroot: Sysroot): Promise<string> {
  return (await ostree(['rev-parse', `--repo=${repoOf(sysroot)}`, REF])).trim();
}

async function hasCommit(sysroot: Sysroot, commit: string): Promise<boolean> {
  return (await ostreeStatus(['show', `--repo=${repoOf(sysroot)}`, commit])).code === 0;
}

async function signedBy(sysroot: Sysroot, commit: string, keys: TrustedKeys): Promise<boolean> {
  const repo = await Repo.open(repoOf(sysroot));
  try {
    return verifyCommitEd25519(repo, commit, [...keys.byKid.values()].map((k) => k.publicKey)).valid;
  } finally {
    repo.close();
  }
}

/** A copy of a bundle with one member's bytes replaced (or, with `flip`, one byte of it changed). */
async function edited(from: string, member: string, change: { data?: Buffer; flipAt?: number }): Promise<string> {
  const to = join(root, `edited-${n++}.otab`);
  if (change.flipAt !== undefined) {
    await cp(from, to);
    const fh = await open(to, 'r+');
    try {
      const m = (await listTarMembers(fh, to)).find((x) => x.name === member)!;
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, m.offset + change.flipAt);
      b[0] = b[0]! ^ 0xff;
      await fh.write(b, 0, 1, m.offset + change.flipAt);
    } finally {
      await fh.close();
    }
    return to;
  }
  const fh = await open(from, 'r');
  const out = await open(to, 'w');
  const stream = out.createWriteStream();
  const closed = new Promise<void>((resolve) => stream.on('close', () => resolve()));
  const tar = new TarWriter({ output: stream });
  for (const m of await listTarMembers(fh, from)) {
    const b = Buffer.alloc(m.size);
    await fh.read(b, 0, m.size, m.offset);
    const content = m.name === member ? change.data! : b;
    await tar.addEntry({ path: m.name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length }, content);
  }
  await tar.finish();
  await closed;
  await fh.close();
  return to;
}

describe('installing from a bundle', () => {
  it('a delta bundle from the running release installs its commit, signed, under the release ref, and deploys', async () => {
    const sysroot = await device10();
    const events: string[] = [];
    const r = await installFromBundle({ bundlePath: file.delta!, sysroot, trusted, expect: expect11, onEvent: (e) => events.push(e.phase) });
    expect(r).toEqual({ commit: rel['1.1']!.commit, ref: REF, version: '1.1', via: 'delta' });
    expect(events).toContain('import');
    expect(await refAt(sysroot)).toBe(rel['1.1']!.commit);
    expect(await signedBy(sysroot, rel['1.1']!.commit, trusted)).toBe(true);
    await ostree(['fsck', `--repo=${repoOf(sysroot)}`]);
    await deployUpdate({ sysroot, osname: OS, commit: r.commit, refspec: r.ref });
    expect(await ostree(['admin', 'status', `--sysroot=${sysroot.path}`])).toContain(`${rel['1.1']!.commit}.0`);
    // The delta extracted into the repository's tmp/ is gone.
    expect((await readdir(join(repoOf(sysroot), 'tmp'))).filter((x) => x.startsWith('ota-bundle-'))).toEqual([]);
  });

  it('a whole-commit bundle installs on a device running anything, and installing it again lands the same', async () => {
    const sysroot = await device10();
    const r = await installFromBundle({ bundlePath: file.whole!, sysroot, trusted, expect: expect11 });
    expect(r.via).toBe('whole');
    const again = await installFromBundle({ bundlePath: file.whole!, sysroot, trusted, expect: expect11 });
    expect(again).toEqual(r);
    expect(await refAt(sysroot)).toBe(rel['1.1']!.commit);
    expect(await signedBy(sysroot, rel['1.1']!.commit, trusted)).toBe(true);
  });

  it('refuses a bundle whose delta starts at another commit than the running one, changing nothing', async () => {
    const sysroot = await device10();
    const b = await openBundle(file.later!);
    const want = { commit: rel['1.2']!.commit, fromCommit: rel['1.0']!.commit };
    expect(bundleRefusal(b, want)).toMatchObject({ reason: 'bundle', message: expect.stringContaining(`updates from version 1.1 (commit ${rel['1.1']!.commit})`) });
    expect(bundleRefusal(b, { ...want, fromCommit: rel['1.1']!.commit })).toBeNull();
    expect(bundleRefusal(await openBundle(file.whole!), { commit: rel['1.1']!.commit, fromCommit: null })).toBeNull();
    const before = await hashTree(sysroot.path);
    const e = await rejection(installFromBundle({ bundlePath: file.later!, sysroot, trusted, expect: want }));
    expect(e.code).toBe('ERR_OTA_REFUSED');
    expect(e.details).toEqual(['reason: bundle']);
    expect(await hashTree(sysroot.path)).toEqual(before);
  });

  it('refuses a bundle of another commit than the release names, changing nothing', async () => {
    const sysroot = await device10();
    const want = { commit: rel['1.2']!.commit, fromCommit: rel['1.0']!.commit };
    expect(bundleRefusal(await openBundle(file.delta!), want)).toMatchObject({ reason: 'bundle', message: expect.stringContaining(`holds commit ${rel['1.1']!.commit}`) });
    const before = await hashTree(sysroot.path);
    const e = await rejection(installFromBundle({ bundlePath: file.delta!, sysroot, trusted, expect: want }));
    expect(e.details).toEqual(['reason: bundle']);
    expect(await hashTree(sysroot.path)).toEqual(before);
  });

  it('a damaged delta part is ERR_OTA_HASH: nothing written, nothing referenced', async () => {
    const sysroot = await device10();
    const bad = await edited(file.delta!, 'delta/0', { flipAt: 100 });
    const before = await hashTree(sysroot.path);
    const e = await rejection(installFromBundle({ bundlePath: bad, sysroot, trusted, expect: expect11 }));
    expect(e.code).toBe('ERR_OTA_HASH');
    expect(e.message).toContain('delta part 0');
    expect(await hashTree(sysroot.path)).toEqual(before);
    expect(await refAt(sysroot)).toBe(rel['1.0']!.commit);
    expect(await hasCommit(sysroot, rel['1.1']!.commit)).toBe(false);
  });

  it('refuses a commit signed by an untrusted key under a trusted manifest, sets no ref, and takes the genuine bundle after', async () => {
    const sysroot = await device10();
    const e = await rejection(installFromBundle({ bundlePath: file.stranger!, sysroot, trusted, expect: expect11 }));
    expect(e.code).toBe('ERR_OTA_SIGNATURE');
    expect(await refAt(sysroot)).toBe(rel['1.0']!.commit);
    expect((await ostree(['refs', `--repo=${repoOf(sysroot)}`])).split('\n').filter((x) => x.startsWith(REF))).toEqual([REF]);
    // The same commit from the genuine bundle: its signature comes with it this time.
    const r = await installFromBundle({ bundlePath: file.delta!, sysroot, trusted, expect: expect11 });
    expect(r.commit).toBe(rel['1.1']!.commit);
    expect(await refAt(sysroot)).toBe(rel['1.1']!.commit);
    expect(await signedBy(sysroot, rel['1.1']!.commit, trusted)).toBe(true);
  });

  it('refuses a bundle whose manifest no trusted key signed, or that expired, before writing anything', async () => {
    const sysroot = await device10();
    const before = await hashTree(sysroot.path);
    const e = await rejection(installFromBundle({ bundlePath: file.delta!, sysroot, trusted: await loadTrustedKeys({ keys: [(await generateSigningKey()).publicJwk] }), expect: expect11 }));
    expect(e.code).toMatch(/^ERR_OTA_JWS_/);
    const late = await rejection(installFromBundle({ bundlePath: file.delta!, sysroot, trusted, expect: expect11, now: new Date('2100-01-01T00:00:00Z') }));
    expect(late.code).toBe('ERR_OTA_JWS_EXPIRED');
    expect(await hashTree(sysroot.path)).toEqual(before);
  });
});
