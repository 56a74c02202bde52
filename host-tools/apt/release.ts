import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { parseStanzas } from './control.js';

/**
 * A suite's InRelease: the signed list of index files and their hashes. Only the bytes gpgv
 * vouches for are parsed (gpgv writes them out), never the clear text around the signature, so
 * text added outside the signed part cannot smuggle in an index hash.
 *
 * @example
 * const signed = await verifyInRelease(bytes, [keyringBytes], 'http://…/dists/bookworm/InRelease');
 * const release = parseRelease(signed, 'bookworm');
 */
export interface ReleaseFile {
  size: number;
  sha256: string;
}

export interface ReleaseInfo {
  suite: string | undefined;
  codename: string | undefined;
  date: Date | undefined;
  validUntil: Date | undefined;
  architectures: string[];
  components: string[];
  acquireByHash: boolean;
  files: Map<string, ReleaseFile>;
}

export function parseRelease(text: string, where: string): ReleaseInfo {
  const stanza = parseStanzas(text)[0];
  if (!stanza) throw new OtaError('ERR_OTA_INDEX', `${where}: the Release file is empty`);
  const sha = stanza.get('SHA256');
  if (sha === undefined) {
    throw new OtaError('ERR_OTA_INDEX', `${where}: the Release file has no SHA256 list`, {
      hint: 'ota only trusts archives that publish SHA256 hashes (MD5 and SHA1 are not enough)',
    });
  }
  const files = new Map<string, ReleaseFile>();
  for (const line of sha.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3) continue;
    const [hash, size, path] = parts as [string, string, string];
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new OtaError('ERR_OTA_INDEX', `${where}: malformed SHA256 entry "${line.trim()}"`);
    files.set(path, { sha256: hash, size: Number(size) });
  }
  return {
    suite: stanza.get('Suite'),
    codename: stanza.get('Codename'),
    date: parseDate(stanza.get('Date'), where, 'Date'),
    validUntil: parseDate(stanza.get('Valid-Until'), where, 'Valid-Until'),
    architectures: (stanza.get('Architectures') ?? '').split(/\s+/).filter(Boolean),
    components: (stanza.get('Components') ?? '').split(/\s+/).filter(Boolean),
    acquireByHash: stanza.get('Acquire-By-Hash') === 'yes',
    files,
  };
}

/**
 * Whether a suite offers `component` for `arch`: its Components field lists it, and its file list
 * has a Packages index for it on that architecture (a component built for other architectures only
 * would fail the fetch). Debian's security archive writes its components as `updates/main`, with
 * the files under main/, so `updates/<component>` counts as `<component>` (as apt counts it).
 *
 * @example
 * releaseCarries(parseRelease(text, where), 'non-free-firmware', 'arm64'); // true for Debian's bookworm
 */
export function releaseCarries(release: ReleaseInfo, component: string, arch: string): boolean {
  if (!release.components.some((c) => c === component || c.endsWith(`/${component}`))) return false;
  const dir = `${component}/binary-${arch}/`;
  return ['Packages', 'Packages.xz', 'Packages.gz'].some((f) => release.files.has(dir + f));
}

function parseDate(value: string | undefined, where: string, field: string): Date | undefined {
  if (value === undefined) return undefined;
  // RFC 2822 with "UTC" instead of "+0000", as the archive writes it.
  const d = new Date(value.replace(/\bUTC$/, '+0000'));
  if (Number.isNaN(d.getTime())) throw new OtaError('ERR_OTA_INDEX', `${where}: cannot read ${field} "${value}"`);
  return d;
}

/**
 * Verifies a clear-signed InRelease with gpgv against the given keyrings (binary OpenPGP) and
 * returns the signed text. Unsigned, badly signed, or signed by a key outside the keyrings all
 * fail with the reason gpgv gave.
 */
export async function verifyInRelease(inRelease: Buffer, keyrings: Buffer[], where: string): Promise<string> {
  if (!inRelease.subarray(0, 64).toString('latin1').startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    throw new OtaError('ERR_OTA_SIGNATURE', `${where} is not signed (no PGP signed message)`, {
      hint: 'ota refuses unsigned archive metadata; sign the archive\'s InRelease or use a signed mirror',
    });
  }
  return gpgv(keyrings, where, { InRelease: inRelease }, (dir) => ['--output', join(dir, 'Release'), join(dir, 'InRelease')], 'Release');
}

/** Verifies a Release file against its detached Release.gpg; returns the Release text. */
export async function verifyDetached(release: Buffer, signature: Buffer, keyrings: Buffer[], where: string): Promise<string> {
  return gpgv(keyrings, where, { Release: release, 'Release.gpg': signature }, (dir) => [join(dir, 'Release.gpg'), join(dir, 'Release')], 'Release');
}

async function gpgv(
  keyrings: Buffer[],
  where: string,
  files: Record<string, Buffer>,
  tail: (dir: string) => string[],
  result: string,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-gpgv-'));
  try {
    const args = ['gpgv', '--homedir', dir, '--status-fd', '1'];
    for (let i = 0; i < keyrings.length; i++) {
      const k = join(dir, `keyring-${i}.gpg`);
      await writeFile(k, keyrings[i]!);
      args.push('--keyring', k);
    }
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    const res = await run('verify archive signature', [...args, ...tail(dir)], { okCodes: [0, 1, 2] });
    if (res.code !== 0 || !/^\[GNUPG:\] VALIDSIG /m.test(res.stdout)) {
      throw new OtaError('ERR_OTA_SIGNATURE', `${where}: ${describeGpgvFailure(res.stdout, res.stderr)}`, {
        hint: 'check the source\'s keyring (`keyring:` in the manifest, or Signed-By in the host\'s apt sources)',
        details: res.stderr.trim().split('\n').slice(-6),
      });
    }
    return await readFile(join(dir, result), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function describeGpgvFailure(status: string, stderr: string): string {
  const line = (tag: string) => new RegExp(`^\\[GNUPG:\\] ${tag}(?: (.*))?$`, 'm').exec(status);
  let m: RegExpExecArray | null;
  if ((m = line('BADSIG'))) return `bad signature by ${m[1]} (the file was changed after signing)`;
  if ((m = line('NO_PUBKEY'))) return `signed by key ${m[1]}, which is not in the keyring`;
  if ((m = line('EXPKEYSIG'))) return `signed by an expired key (${m[1]})`;
  if ((m = line('REVKEYSIG'))) return `signed by a revoked key (${m[1]})`;
  if ((m = line('EXPSIG'))) return `the signature has expired`;
  if (line('NODATA') || line('NOTSIGNED')) return `no valid signature found`;
  if ((m = line('ERRSIG'))) return `cannot check the signature (${m[1]})`;
  return `signature verification failed: ${stderr.trim().split('\n')[0] ?? 'gpgv gave no reason'}`;
}
