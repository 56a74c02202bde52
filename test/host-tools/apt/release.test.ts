import { otaRejection } from '../../helpers/errors.js';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { dearmor } from '../../../host-tools/apt/keyring.js';
import { parseRelease, releaseCarries, verifyInRelease } from '../../../host-tools/apt/release.js';

const RELEASE = `Origin: Test
Suite: stable
Codename: bookworm
Date: Sat, 10 Jun 2023 09:06:58 UTC
Valid-Until: Sat, 17 Jun 2023 09:06:58 UTC
Acquire-By-Hash: yes
Architectures: amd64 arm64
Components: main contrib
SHA256:
 ${'a'.repeat(64)}  1234 main/binary-arm64/Packages
 ${'b'.repeat(64)}   321 main/binary-arm64/Packages.xz
`;

describe('parseRelease', () => {
  it('reads the fields and the SHA256 list', () => {
    const r = parseRelease(RELEASE, 'here');
    expect(r.date?.toISOString()).toBe('2023-06-10T09:06:58.000Z');
    expect(r.validUntil?.toISOString()).toBe('2023-06-17T09:06:58.000Z');
    expect(r.acquireByHash).toBe(true);
    expect(r.architectures).toEqual(['amd64', 'arm64']);
    expect(r.components).toEqual(['main', 'contrib']);
    expect(r.files.get('main/binary-arm64/Packages.xz')).toEqual({ sha256: 'b'.repeat(64), size: 321 });
    expect(r.files.size).toBe(2);
  });

  it('refuses a Release without SHA256 and malformed entries', () => {
    expect(() => parseRelease('Suite: x\nMD5Sum:\n abc 1 f\n', 'here')).toThrow(/no SHA256 list/);
    expect(() => parseRelease('Suite: x\nSHA256:\n nothex 1 f\n', 'here')).toThrow(/malformed SHA256 entry/);
    expect(() => parseRelease('Date: yesterday\nSHA256:\n', 'here')).toThrow(/cannot read Date/);
  });
});

describe('releaseCarries', () => {
  it('needs the component in Components and a Packages index for the architecture', () => {
    const r = parseRelease(RELEASE, 'here');
    expect(releaseCarries(r, 'main', 'arm64')).toBe(true);
    expect(releaseCarries(r, 'main', 'amd64')).toBe(false); // listed arch, but no index published
    expect(releaseCarries(r, 'contrib', 'arm64')).toBe(false); // in Components, no index
    expect(releaseCarries(r, 'non-free-firmware', 'arm64')).toBe(false);
  });

  it("counts Debian security's `updates/<component>` as the component", () => {
    const r = parseRelease(`Components: updates/main updates/non-free-firmware\nSHA256:\n ${'c'.repeat(64)} 5 non-free-firmware/binary-arm64/Packages.xz\n`, 'here');
    expect(releaseCarries(r, 'non-free-firmware', 'arm64')).toBe(true);
    expect(releaseCarries(r, 'firmware', 'arm64')).toBe(false);
  });
});

describe('verifyInRelease', () => {
  it('refuses text that is not a signed message before running gpgv', async () => {
    const err = await otaRejection(verifyInRelease(Buffer.from(RELEASE), [], 'http://x/InRelease'));
    expect(err).toBeInstanceOf(OtaError);
    expect(err.code).toBe('ERR_OTA_SIGNATURE');
    expect(err.message).toContain('is not signed');
  });
});

describe('dearmor', () => {
  it('decodes the base64 body, skipping armor headers and the CRC line', () => {
    const body = Buffer.from('binary key packets').toString('base64');
    const armored = `-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n${body}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n`;
    expect(dearmor(armored, 'k.asc').toString()).toBe('binary key packets');
    const twice = `${armored}${armored.replace('Comment: test\n\n', '')}`;
    expect(dearmor(twice, 'k.asc').toString()).toBe('binary key packetsbinary key packets');
    expect(() => dearmor('nothing here', 'k.asc')).toThrow(/no armored public key block/);
  });
});
