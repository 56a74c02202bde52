import { KEY_FILES, ostreeKeyText, privateJwk, type SigningKey } from '../../contract/index.js';

/** One file of a key directory: its name in DIR, its bytes and its mode. */
export interface KeyFile {
  name: string;
  content: string | Uint8Array;
  mode: number;
  /** Private files are never printed, only written (0600). */
  secret: boolean;
}

/**
 * The files `ota keys generate` writes for a release key, as data
 * (docs/releases.md, "The trust chain"): the private JWK, its public JWK set, and the same key in
 * ostree's ed25519 formats.
 *
 * @example
 * for (const f of keyFilesOf(key)) await writeFileAtomic(join(dir, f.name), f.content, f.mode);
 */
export function keyFilesOf(key: SigningKey): KeyFile[] {
  const ostree = ostreeKeyText(key);
  return [
    { name: KEY_FILES.privateJwk, content: `${JSON.stringify(privateJwk(key), null, 2)}\n`, mode: 0o600, secret: true },
    { name: KEY_FILES.publicJwks, content: `${JSON.stringify({ keys: [key.publicJwk] }, null, 2)}\n`, mode: 0o644, secret: false },
    { name: KEY_FILES.ostreeSecret, content: ostree.secret, mode: 0o600, secret: true },
    { name: KEY_FILES.ostreePublic, content: ostree.public, mode: 0o644, secret: false },
  ];
}

/** The names `ota keys generate` would replace in DIR, with or without a GPG key. */
export function keyFileNames(gpg: boolean): string[] {
  const names: string[] = [KEY_FILES.privateJwk, KEY_FILES.publicJwks, KEY_FILES.ostreeSecret, KEY_FILES.ostreePublic];
  return gpg ? [...names, KEY_FILES.gpgHome, KEY_FILES.gpgPublic] : names;
}
