import { describe, expect, it } from 'vitest';
import { inventoryDigest, osReleaseCodename, parseDpkgStatus } from '../../../device-agent/worker/inventory.js';

const STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u13
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: Bad_Name
Status: install ok installed
Architecture: all
Version: 1

Package: badversion
Status: install ok installed
Architecture: all
Version: not a version!

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.15-1~deb12u1

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14+b1
`;

describe('parseDpkgStatus', () => {
  it('lists installed packages in order, leaving out removed ones and stanzas the contract cannot carry', () => {
    expect(parseDpkgStatus(STATUS)).toEqual([
      { name: 'libc6', version: '2.36-9+deb12u13', arch: 'amd64', source: 'libc6', sourceVersion: '2.36-9+deb12u13' },
      { name: 'base-files', version: '12.4+deb12u5', arch: 'amd64', source: 'base-files', sourceVersion: '12.4+deb12u5' },
      { name: 'libssl3', version: '3.0.15-1~deb12u1', arch: 'amd64', source: 'openssl', sourceVersion: '3.0.15-1~deb12u1' },
      { name: 'libgcc-s1', version: '12.2.0-14+b1', arch: 'amd64', source: 'gcc-12', sourceVersion: '12.2.0-14' },
    ]);
    expect(parseDpkgStatus('')).toEqual([]);
  });
});

describe('inventoryDigest', () => {
  it('changes with the commit or a package, not with the time it was read', () => {
    const packages = parseDpkgStatus(STATUS);
    const a = inventoryDigest({ commit: 'a'.repeat(64), packages });
    expect(inventoryDigest({ commit: 'a'.repeat(64), packages: [...packages] })).toBe(a);
    expect(inventoryDigest({ commit: 'b'.repeat(64), packages })).not.toBe(a);
    expect(inventoryDigest({ commit: 'a'.repeat(64), packages: [{ ...packages[0]!, version: '2.36-9+deb12u14' }, packages[1]!] })).not.toBe(a);
  });
});

describe('osReleaseCodename', () => {
  it('reads VERSION_CODENAME, quoted or not, and nothing when the file names none', () => {
    expect(osReleaseCodename('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')).toBe('bookworm');
    expect(osReleaseCodename('VERSION_CODENAME="trixie"\n')).toBe('trixie');
    expect(osReleaseCodename('PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n')).toBeUndefined();
  });
});
