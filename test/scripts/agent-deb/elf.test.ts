import { describe, expect, it } from 'vitest';
import { dependsFor, parseReadelf, SONAME_PACKAGES } from '../../../scripts/agent-deb/elf.js';

// readelf's text for a one-file agent, cut to the lines the parser reads (fixture text in readelf's layout).
const READELF = `ELF Header:
  Class:                             ELF64
  Machine:                           AArch64
  Flags:                             0x0
Dynamic section at offset 0x8d1e3a8 contains 34 entries:
 0x0000000000000001 (NEEDED)             Shared library: [libatomic.so.1]
 0x0000000000000001 (NEEDED)             Shared library: [libstdc++.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [ld-linux-aarch64.so.1]
Version needs section '.gnu.version_r' contains 5 entries:
  0x0010:   Name: GLIBC_2.17  Flags: none  Version: 3
  0x0020:   Name: GLIBC_2.28  Flags: none  Version: 9
  0x0030:   Name: GLIBC_2.9  Flags: none  Version: 5
  0x0040:   Name: GLIBCXX_3.4.9  Flags: none  Version: 6
  0x0050:   Name: GLIBCXX_3.4.21  Flags: none  Version: 7
`;

describe('the Depends an executable needs', () => {
  it('reads the machine, the sonames and the highest glibc and libstdc++ versions (2.28 over 2.9: numeric)', () => {
    expect(parseReadelf(READELF)).toEqual({ machine: 'AArch64', flags: '0x0', needed: ['libatomic.so.1', 'libstdc++.so.6', 'libc.so.6', 'ld-linux-aarch64.so.1'], glibc: '2.28', glibcxx: 21 });
  });

  it('maps sonames to Debian packages, once each, sorted, versioned by what is asked', () => {
    expect(dependsFor(parseReadelf(READELF), 'arm64')).toEqual(['libatomic1', 'libc6 (>= 2.28)', 'libstdc++6 (>= 5)']);
  });

  it('refuses an executable for another machine, or armhf without the hard-float ABI', () => {
    expect(() => dependsFor(parseReadelf(READELF), 'amd64', 'x/ota-agent')).toThrow('x/ota-agent is for AArch64, not amd64');
    const arm = READELF.replace('AArch64', 'ARM');
    expect(() => dependsFor(parseReadelf(arm.replace('0x0', '0x5000200, Version5 EABI, soft-float ABI')), 'armhf')).toThrow(/not armhf/);
    expect(dependsFor(parseReadelf(arm.replace('0x0', '0x5000400, Version5 EABI, hard-float ABI')), 'armhf')).toContain('libatomic1');
  });

  it('refuses a library no rule covers, rather than leaving it out of Depends', () => {
    const more = READELF.replace('[libc.so.6]', '[libc.so.6]\n 0x1 (NEEDED) Shared library: [libssl.so.3]');
    expect(SONAME_PACKAGES['libssl.so.3']).toBeUndefined();
    expect(() => dependsFor(parseReadelf(more), 'arm64')).toThrow('links libssl.so.3, which no Depends rule covers');
  });

  it('a libstdc++ newer than the table knows is an error, not an unversioned dependency', () => {
    expect(() => dependsFor(parseReadelf(READELF.replace('GLIBCXX_3.4.21', 'GLIBCXX_3.4.99')), 'arm64')).toThrow('GLIBCXX_3.4.99');
  });
});
