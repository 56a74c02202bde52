import { describe, expect, it } from 'vitest';
import { formatLock, readLock, type LockHeader } from '../../../host-tools/lock/lockfile.js';

// The header's board fields as written and read back; a lock written before Board-Components
// existed still reads.

const SHA = 'a'.repeat(64);
const PACKAGE = `Package: raspi-firmware
Version: 1.20230405+ds-1
Architecture: arm64
Filename: pool/non-free-firmware/r/raspi-firmware/raspi-firmware_1.20230405+ds-1_arm64.deb
Size: 10
SHA256: ${'b'.repeat(64)}
Origin-Uri: http://mirror.example/debian
Origin-Suite: bookworm
Origin-Component: non-free-firmware
`;

const header = (board: LockHeader['board']): LockHeader => ({
  version: '1',
  image: 'gw',
  architecture: 'arm64',
  variant: 'none',
  recommends: false,
  manifestSha256: SHA,
  requested: [],
  exclude: [],
  ...(board ? { board } : {}),
  sources: [{ spec: 'host', uri: 'http://mirror.example/debian', suite: 'bookworm', components: ['main', 'non-free-firmware'], priority: 500, inReleaseSha256: SHA, date: '2025-05-17T09:00:00Z' }],
});

describe('the lockfile header', () => {
  it('records the components a board asked for beside the Sources lines that read them, and reads them back', () => {
    const board = { name: 'raspberrypi4', sha256: SHA, packages: ['raspi-firmware'], components: ['non-free-firmware'] };
    const text = formatLock(header(board), readLock(`Lockfile-Version: 1\nImage: x\nArchitecture: arm64\nVariant: none\nRecommends: no\nManifest-SHA256: ${SHA}\nSources:\n host http://mirror.example/debian bookworm non-free-firmware 500 ${SHA} -\n\n${PACKAGE}`, 'seed').packages.values());
    expect(text).toContain('\nBoard-Packages: raspi-firmware\nBoard-Components: non-free-firmware\nSources:\n host http://mirror.example/debian bookworm main,non-free-firmware 500 ');
    const back = readLock(text, 'image.lock');
    expect(back.header.board).toEqual(board);
    expect(back.header.sources[0]!.components).toEqual(['main', 'non-free-firmware']);
    expect(back.packages.get('raspi-firmware')!.origin.component).toBe('non-free-firmware');
  });

  it('writes no Board-Components for a board without any, and reads a lock without the field as none', () => {
    const text = formatLock(header({ name: 'qemu-arm64', sha256: SHA, packages: ['linux-image-arm64'], components: [] }), []);
    expect(text).not.toContain('Board-Components');
    expect(readLock(text, 'image.lock').header.board).toEqual({ name: 'qemu-arm64', sha256: SHA, packages: ['linux-image-arm64'], components: [] });
  });
});
