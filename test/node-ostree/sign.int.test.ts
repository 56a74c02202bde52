import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { commitDirectory } from '../../node-ostree/commit.js';
import { decodeVariant, encodeVariant, GVariantValue } from '../../node-ostree/gvariant.js';
import { Repo } from '../../node-ostree/repo.js';
import { ED25519_KEY, rawPublicKey, signCommitEd25519, signCommitGpg, verifyCommitEd25519, verifyCommitGpg } from '../../node-ostree/sign.js';

const REF_IMPL = join(import.meta.dirname, '..', 'fixtures', 'ed25519_ref.py');
let dir: string;
let repo: Repo;
let commit: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-sign-'));
  await mkdir(join(dir, 'tree/usr'), { recursive: true });
  await writeFile(join(dir, 'tree/usr/hello'), 'hello\n');
  repo = await Repo.create(join(dir, 'repo'), 'archive');
  commit = (await commitDirectory(repo, join(dir, 'tree'), { ref: 'os', subject: 'signed', timestamp: 1_700_000_000 })).checksum;
});
afterAll(() => repo.close());

/** The commit object exactly as OSTree stores it on disk: what an ed25519 signature covers. */
async function commitObjectFile(): Promise<string> {
  return join(repo.path, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commit`);
}

describe('ed25519 commit signatures (OSTree format)', () => {
  it('are verified by an independent RFC 8032 implementation over the commit object file', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const sig = await signCommitEd25519(repo, 'os', privateKey);
    const pub = rawPublicKey(publicKey).toString('hex');
    const file = await commitObjectFile();
    const ok = await run('ed25519 reference verify', ['python3', REF_IMPL, 'verify', pub, sig.toString('hex'), file]);
    expect(ok.stdout.trim()).toBe('valid');
    // the same signature over a changed commit is rejected by the reference implementation
    const tampered = join(dir, 'tampered.commit');
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
    await writeFile(tampered, bytes);
    const bad = await run('ed25519 reference verify', ['python3', REF_IMPL, 'verify', pub, sig.toString('hex'), tampered]);
    expect(bad.stdout.trim()).toBe('invalid');
  });

  it('accepts a signature made by the independent implementation, and only with its key', async () => {
    const seed = randomBytes(32);
    const out = await run('ed25519 reference sign', ['python3', REF_IMPL, 'sign', seed.toString('hex'), await commitObjectFile()]);
    const [pubHex, sigHex] = out.stdout.trim().split(' ') as [string, string];
    const entries = decodeVariant('a{sv}', repo.readDetachedMetadata(commit) ?? Buffer.alloc(0)) as [string, GVariantValue][];
    const kept = entries.filter(([k]) => k !== ED25519_KEY);
    repo.writeDetachedMetadata(commit, encodeVariant('a{sv}', [...kept, [ED25519_KEY, new GVariantValue('aay', [Buffer.from(sigHex, 'hex')])]]));
    expect(verifyCommitEd25519(repo, 'os', [Buffer.from(pubHex, 'hex')])).toMatchObject({ valid: true, keyIndex: 0, signatures: 1 });
    expect(verifyCommitEd25519(repo, 'os', [rawPublicKey(generateKeyPairSync('ed25519').publicKey)]).valid).toBe(false);
    // Our own key from the same seed (libsodium's 32-byte seed form) signs identically: ed25519 is deterministic.
    const again = await signCommitEd25519(repo, 'os', seed);
    expect(again.toString('hex')).toBe(sigHex);
  });

  it('keeps other detached metadata and other signatures, and is idempotent', async () => {
    const a = generateKeyPairSync('ed25519');
    const b = generateKeyPairSync('ed25519');
    repo.writeDetachedMetadata(commit, encodeVariant('a{sv}', [['custom.note', new GVariantValue('s', 'keep me')]]));
    await signCommitEd25519(repo, 'os', a.privateKey);
    await signCommitEd25519(repo, 'os', b.privateKey);
    await signCommitEd25519(repo, 'os', a.privateKey);
    const entries = new Map(decodeVariant('a{sv}', repo.readDetachedMetadata(commit)!) as [string, GVariantValue][]);
    expect(entries.get('custom.note')?.value).toBe('keep me');
    expect((entries.get(ED25519_KEY)?.value as Buffer[]).length).toBe(2);
    expect(verifyCommitEd25519(repo, 'os', [b.publicKey])).toMatchObject({ valid: true, signatures: 2 });
    // the ostree CLI reads the signatures as the aay it expects
    const shown = await run('ostree show', ['ostree', `--repo=${repo.path}`, 'show', 'os', `--print-detached-metadata-key=${ED25519_KEY}`]);
    // GLib prints each signature as [byte ...], b'...' or b"..." depending on its bytes, so check the
    // structure (an array) rather than the printing; a key that is not there must make it fail.
    expect(shown.stdout.trim()).toMatch(/^\[.*\]$/s);
    const missing = await run('ostree show', ['ostree', `--repo=${repo.path}`, 'show', 'os', '--print-detached-metadata-key=ostree.sign.nothing'], { okCodes: [0, 1] });
    expect(missing.code).toBe(1);
  });

  it('rejects keys of the wrong size with a clear error', async () => {
    await expect(signCommitEd25519(repo, 'os', Buffer.alloc(31))).rejects.toThrow(/expected 32 or 64 bytes, got 31/);
    expect(() => verifyCommitEd25519(repo, 'os', [Buffer.alloc(33)])).toThrow(/expected 32 bytes, got 33/);
  });
});

describe('GPG commit signatures (through libostree)', () => {
  it('signs with a key from a GNUPGHOME and verifies against its public keyring; another key does not verify', async () => {
    const home = join(dir, 'gnupg');
    await mkdir(home, { mode: 0o700 });
    const env = { ...process.env, GNUPGHOME: home };
    await run('gpg key', ['gpg', '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'ota test <ota@example.invalid>', 'ed25519', 'sign', 'never'], { env });
    const fpr = (await run('gpg fpr', ['gpg', '--batch', '--with-colons', '--list-secret-keys'], { env })).stdout.match(/^fpr:+([0-9A-F]{40}):/m)![1]!;
    await signCommitGpg(repo, 'os', fpr, home);
    const keyring = join(dir, 'trusted.gpg');
    await writeFile(keyring, (await run('export', ['gpg', '--batch', '--export', fpr], { env, binary: true })).stdout);
    expect(await verifyCommitGpg(repo, 'os', { keyring })).toEqual({ valid: 1, total: 1 });
    // a keyring without the signer's key finds the signature but no valid one
    const otherHome = join(dir, 'gnupg-other');
    await mkdir(otherHome, { mode: 0o700 });
    const otherEnv = { ...process.env, GNUPGHOME: otherHome };
    await run('gpg key', ['gpg', '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'other <other@example.invalid>', 'ed25519', 'sign', 'never'], { env: otherEnv });
    const otherKeyring = join(dir, 'other.gpg');
    await writeFile(otherKeyring, (await run('export', ['gpg', '--batch', '--export'], { env: otherEnv, binary: true })).stdout);
    expect(await verifyCommitGpg(repo, 'os', { keyring: otherKeyring })).toEqual({ valid: 0, total: 1 });
    // cross-check with the ostree CLI: a remote whose keyring holds the key verifies the signature
    await run('remote add', ['ostree', `--repo=${repo.path}`, 'remote', 'add', '--set=gpg-verify=true', `--gpg-import=${keyring}`, 'signer', 'file:///nonexistent']);
    const cli = await run('ostree show --gpg-verify-remote', ['ostree', `--repo=${repo.path}`, 'show', 'os', '--gpg-verify-remote=signer']);
    expect(cli.stdout).toMatch(/Good signature/);
    await run('gpgconf', ['gpgconf', '--kill', 'gpg-agent'], { env: otherEnv, okCodes: [0, 1, 2] });
    await run('gpgconf', ['gpgconf', '--kill', 'gpg-agent'], { env, okCodes: [0, 1, 2] });
  });
});
