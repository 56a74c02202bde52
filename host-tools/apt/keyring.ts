import { readFile } from 'node:fs/promises';
import { EXIT, OtaError } from '../../common/errors.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';

/**
 * Keyrings for gpgv. gpgv reads binary OpenPGP keyrings only, while apt also accepts ASCII-armored
 * `.asc` files and inline keys in deb822 `Signed-By`; those are de-armored here (base64 body
 * between the armor lines, without the `=CRC` line) so every form reaches gpgv as bytes.
 *
 * @example
 * const bytes = await readKeyring('/usr/share/keyrings/debian-archive-keyring.gpg');
 */
export async function readKeyring(path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new OtaError('ERR_OTA_SIGNATURE', `cannot read keyring ${path}: ${fsReason(e)}`, {
      exitCode: isMissing(e) ? EXIT.usage : undefined,
      hint: 'set the source\'s `keyring:` to an existing .gpg or .asc file (relative to the manifest)',
      cause: e,
    });
  }
  if (data.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP')) return dearmor(data.toString('utf8'), path);
  if (data.length === 0) throw new OtaError('ERR_OTA_SIGNATURE', `keyring ${path} is empty`);
  return data;
}

/** Decodes every armored public key block in `text` and concatenates the packets. */
export function dearmor(text: string, where: string): Buffer {
  const blocks = [...text.matchAll(/-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/g)];
  if (blocks.length === 0) throw new OtaError('ERR_OTA_SIGNATURE', `${where} holds no armored public key block`);
  const parts = blocks.map((b) => {
    const lines = b[1]!.split(/\r?\n/);
    // Armor headers ("Version: ...") end at the first empty line, if there are any.
    const blank = lines.findIndex((l) => l.trim() === '');
    const hasHeaders = blank !== -1 && lines.slice(0, blank).every((l) => /^[A-Za-z-]+: /.test(l));
    const body = (hasHeaders ? lines.slice(blank + 1) : lines).filter((l) => l.trim() !== '' && !l.startsWith('='));
    return Buffer.from(body.join(''), 'base64');
  });
  return Buffer.concat(parts);
}

/**
 * Whether `bytes` (de-armored) start like an OpenPGP keyring: a packet header (bit 7 set) whose
 * tag is a public-key packet (6). Old-format headers keep the tag in bits 5..2, new-format ones
 * (bit 6 set) in bits 5..0 (RFC 4880, section 4.2).
 */
export function isOpenPgpKeyring(bytes: Buffer): boolean {
  const first = bytes[0];
  if (first === undefined || (first & 0x80) === 0) return false;
  const tag = first & 0x40 ? first & 0x3f : (first >> 2) & 0x0f;
  return tag === 6;
}
