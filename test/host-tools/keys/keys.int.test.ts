import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { loadSigningKey, loadTrustedKeys, readSigned, signDocument } from '../../../contract/index.js';
import { commitDirectory } from '../../../node-ostree/commit.js';
import { Repo } from '../../../node-ostree/repo.js';
import { rawPublicKey, signCommitEd25519, verifyCommitEd25519 } from '../../../node-ostree/sign.js';
import { ota } from '../../helpers/cli.js';

// A short base: gpg-agent puts its sockets in GNUPGHOME here, and a socket path has 107 bytes.
let dir: string;
let repo: Repo;
let commit: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ok-'));
  await mkdir(join(dir, 'tree/usr'), { recursive: true });
  await writeFile(join(dir, 'tree/usr/hello'), 'hello\n');
  repo = await Repo.create(join(dir, 'repo'), 'archive');
  commit = (await commitDirectory(repo, join(dir, 'tree'), { ref: 'os', subject: 'signed', timestamp: 1_700_000_000 })).checksum;
});
afterAll(async () => {
  repo.close();
  for (const home of ['g/gpg', 'f/gpg']) await run('stop gpg-agent', ['gpgconf', '--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: join(dir, home) }, okCodes: [0, 1, 2] });
  await rm(dir, { recursive: true, force: true });
});

const mode = async (p: string) => (await stat(p)).mode & 0o777;
const json = (out: string[]) => JSON.parse(out.join('\n')) as Record<string, unknown> & { kid: string; keys: { kid: string; ostreePublicKey: string }[] };

describe('ota keys generate', () => {
  it('writes the files of the trust chain with their modes, and prints no private part', async () => {
    const k = join(dir, 'k');
    const r = await ota('keys', 'generate', k, '--json');
    expect(r.code).toBe(0);
    expect((await readdir(k)).sort()).toEqual(['ostree-ed25519.pub', 'ostree-ed25519.sec', 'release.jwk', 'release.pub.jwks']);
    expect(await mode(k)).toBe(0o700);
    expect(await mode(join(k, 'release.jwk'))).toBe(0o600);
    expect(await mode(join(k, 'ostree-ed25519.sec'))).toBe(0o600);
    expect(await mode(join(k, 'release.pub.jwks'))).toBe(0o644);
    expect(await mode(join(k, 'ostree-ed25519.pub'))).toBe(0o644);
    const key = await loadSigningKey(k);
    const doc = json(r.out);
    expect(doc.kid).toBe(key.kid);
    const d = (JSON.parse(await readFile(join(k, 'release.jwk'), 'utf8')) as { d: string }).d;
    const sec = (await readFile(join(k, 'ostree-ed25519.sec'), 'utf8')).trim();
    for (const text of [r.out.join('\n'), r.err]) {
      expect(text).not.toContain(d);
      expect(text).not.toContain(sec.slice(0, 40));
      expect(text).not.toContain('"d"');
    }
    // What the files say verifies what the key signs.
    const jws = await signDocument('command', { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: 'gw' }, action: { type: 'reboot' }, reason: null }, key);
    expect((await readSigned('command', jws, await loadTrustedKeys(join(k, 'release.pub.jwks')))).kid).toBe(key.kid);
  });

  it('writes ostree key files that sign a real commit as the JWK does', async () => {
    const k = join(dir, 'k');
    const secret = Buffer.from((await readFile(join(k, 'ostree-ed25519.sec'), 'utf8')).trim(), 'base64');
    const pub = Buffer.from((await readFile(join(k, 'ostree-ed25519.pub'), 'utf8')).trim(), 'base64');
    expect(secret).toHaveLength(64);
    expect(pub).toHaveLength(32);
    await signCommitEd25519(repo, 'os', secret);
    expect(verifyCommitEd25519(repo, commit, [pub]).valid).toBe(true);
    const jwkX = Buffer.from((await loadSigningKey(k)).publicJwk.x!, 'base64url');
    expect(verifyCommitEd25519(repo, commit, [jwkX]).valid).toBe(true);
    const other = rawPublicKey(generateKeyPairSync('ed25519').publicKey);
    expect(verifyCommitEd25519(repo, commit, [other]).valid).toBe(false);
  });

  it('refuses to overwrite keys without --force, changing nothing; replaces them with it', async () => {
    const k = join(dir, 'k');
    const before = await Promise.all((await readdir(k)).sort().map((f) => readFile(join(k, f))));
    const r = await ota('keys', 'generate', k);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/already holds keys: release\.jwk/);
    expect(r.err).toMatch(/--force/);
    const after = await Promise.all((await readdir(k)).sort().map((f) => readFile(join(k, f))));
    expect(after).toEqual(before);
    const old = (await loadSigningKey(k)).kid;
    const forced = await ota('keys', 'generate', k, '--force', '--json');
    expect(forced.code).toBe(0);
    expect(json(forced.out).kid).not.toBe(old);
    expect((await loadSigningKey(k)).kid).toBe(json(forced.out).kid);
  });

  it('refuses a DIR that is a file, writing nothing', async () => {
    await writeFile(join(dir, 'afile'), 'x');
    const r = await ota('keys', 'generate', join(dir, 'afile'), '--json');
    expect(r.code).toBe(2);
    expect((json(r.out).error as { code: string }).code).toBe('ERR_OTA_KEY');
    expect(await readFile(join(dir, 'afile'), 'utf8')).toBe('x');
  });

  it('--gpg refuses a DIR too deep for gpg-agent\'s socket, leaving no directory behind', async () => {
    const deep = join(dir, 'd'.repeat(60), 'e'.repeat(30));
    const staged = join(deep, '.g000000');
    const socket = (await run('socket', ['gpgconf', '--list-dirs', 'agent-socket'], { env: { ...process.env, GNUPGHOME: staged } })).stdout.trim();
    // Where /run/user/$UID exists the sockets live there and any depth works: nothing to refuse.
    if (!socket.startsWith(staged)) return;
    const r = await ota('keys', 'generate', deep, '--gpg', '--json');
    expect(r.code).toBe(2);
    expect((json(r.out).error as { code: string; message: string }).message).toMatch(/too deep for gpg-agent's socket/);
    await expect(stat(join(dir, 'd'.repeat(60)))).rejects.toThrow(/ENOENT/);
  });

  it('--gpg makes a GPG key in DIR/gpg whose exported keyring verifies its signatures', async () => {
    const g = join(dir, 'g');
    const r = await ota('keys', 'generate', g, '--gpg', '--json');
    expect(r.code, r.err).toBe(0);
    const fpr = (json(r.out).gpg as { fingerprint: string }).fingerprint;
    expect(fpr).toMatch(/^[0-9A-F]{40}$/);
    expect(await mode(join(g, 'gpg'))).toBe(0o700);
    expect((await readdir(g)).filter((f) => f.startsWith('.'))).toEqual([]);
    const env = { ...process.env, GNUPGHOME: join(g, 'gpg') };
    await writeFile(join(dir, 'msg'), 'release\n');
    await run('sign', ['gpg', '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', fpr, '--detach-sign', '-o', join(dir, 'msg.sig'), join(dir, 'msg')], { env });
    const ok = await run('verify', ['gpgv', '--status-fd', '1', '--keyring', join(g, 'release.gpg'), join(dir, 'msg.sig'), join(dir, 'msg')]);
    expect(ok.stdout).toContain(`VALIDSIG ${fpr}`);
    const shown = await ota('keys', 'show', g, '--json');
    expect((json(shown.out).gpg as { fingerprint: string }).fingerprint).toBe(fpr);
  });

  it('--gpg --force replaces the GPG home as a whole', async () => {
    const g = join(dir, 'g');
    const before = (json((await ota('keys', 'show', g, '--json')).out).gpg as { fingerprint: string }).fingerprint;
    const r = await ota('keys', 'generate', g, '--gpg', '--force', '--json');
    expect(r.code, r.err).toBe(0);
    const after = (json(r.out).gpg as { fingerprint: string }).fingerprint;
    expect(after).not.toBe(before);
    const list = await run('list', ['gpg', '--batch', '--with-colons', '--list-keys'], { env: { ...process.env, GNUPGHOME: join(g, 'gpg') } });
    expect(list.stdout).toContain(after);
    expect(list.stdout).not.toContain(before);
    expect((await readdir(g)).filter((f) => f.startsWith('.') || f.includes('.old-'))).toEqual([]);
  });
});

describe('ota keys show', () => {
  it('prints kid, public JWK and ostree key of a directory, a release.jwk and a public set alike', async () => {
    const k = join(dir, 'k');
    const key = await loadSigningKey(k);
    const ostreePub = (await readFile(join(k, 'ostree-ed25519.pub'), 'utf8')).trim();
    for (const [path, privateKey] of [[k, true], [join(k, 'release.jwk'), true], [join(k, 'release.pub.jwks'), false]] as const) {
      const r = await ota('keys', 'show', path, '--json');
      expect(r.code, r.err).toBe(0);
      const doc = json(r.out);
      expect(doc.kid).toBe(key.kid);
      expect(doc.keys[0]!.ostreePublicKey).toBe(ostreePub);
      expect(doc.privateKey).toBe(privateKey);
      expect(r.out.join('\n')).not.toContain('"d"');
    }
    const text = await ota('keys', 'show', k);
    expect(text.out.join('\n')).toContain(`kid: ${key.kid}`);
    expect(text.out.join('\n')).toContain(`ostree ed25519 public key: ${ostreePub}`);
  });

  it('refuses a directory whose files come from different keys', async () => {
    const f = join(dir, 'f');
    expect((await ota('keys', 'generate', f)).code).toBe(0);
    const other = join(dir, 'other');
    expect((await ota('keys', 'generate', other)).code).toBe(0);
    await writeFile(join(f, 'ostree-ed25519.pub'), await readFile(join(other, 'ostree-ed25519.pub')));
    let r = await ota('keys', 'show', f);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/ostree-ed25519\.pub is not the release key's public key/);
    await writeFile(join(f, 'release.pub.jwks'), await readFile(join(other, 'release.pub.jwks')));
    r = await ota('keys', 'show', f);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/release\.pub\.jwks does not hold the public half/);
    r = await ota('keys', 'show', join(dir, 'nowhere'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/does not exist/);
  });
});
