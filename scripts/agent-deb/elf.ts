import { open } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import type { AgentArch } from './plan.js';

/**
 * The package's Depends from what its executable links (docs/agent.md, "Packaging"), as dpkg-shlibdeps would
 * find them if the target's libraries were installed here: readelf's view of the ELF (its machine, NEEDED
 * sonames and the symbol versions it asks of glibc and libstdc++), mapped to Debian's packages. The build
 * fails on an executable for another architecture, or one needing a library no rule covers.
 *
 * @example
 * dependsFor(parseReadelf(text), 'arm64'); // ['libatomic1', 'libc6 (>= 2.28)', ...]
 */
export interface ElfNeeds {
  machine: string;
  flags: string;
  needed: string[];
  /** The highest GLIBC_x.y and GLIBCXX_3.4.n version references, or null. */
  glibc: string | null;
  glibcxx: number | null;
}

/** Debian's package for each soname the one-file agent links (Node's official builds and koffi). */
export const SONAME_PACKAGES: Readonly<Record<string, string>> = {
  'libc.so.6': 'libc6',
  'libm.so.6': 'libc6',
  'libdl.so.2': 'libc6',
  'libpthread.so.0': 'libc6',
  'librt.so.1': 'libc6',
  'ld-linux-x86-64.so.2': 'libc6',
  'ld-linux-aarch64.so.1': 'libc6',
  'ld-linux-armhf.so.3': 'libc6',
  'libstdc++.so.6': 'libstdc++6',
  'libgcc_s.so.1': 'libgcc-s1',
  'libatomic.so.1': 'libatomic1',
};

/** GLIBCXX_3.4.n → the first GCC whose libstdc++6 has it (libstdc++'s ABI history), as Debian's symbols files write it. */
const GLIBCXX_GCC: Readonly<Record<number, string>> = { 21: '5', 22: '6', 23: '7', 24: '7', 25: '8', 26: '9', 27: '9', 28: '9', 29: '11', 30: '12', 31: '13', 32: '13', 33: '14' };

const MACHINES: Readonly<Record<AgentArch, string>> = { amd64: 'Advanced Micro Devices X86-64', arm64: 'AArch64', armhf: 'ARM' };

/** Run time needs beside the linked libraries: libostree through koffi (by soname, unseen here), and systemd. */
export const RUNTIME_DEPENDS = ['libostree-1-1 (>= 2022.7)', 'systemd'];

/** What Node's official builds link, for an executable that is not ELF (a stand-in in tests). */
export const FALLBACK_LINKED = ['libatomic1', 'libc6 (>= 2.28)', 'libgcc-s1', 'libstdc++6'];

export async function isElf(path: string): Promise<boolean> {
  const f = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    await f.read(head, 0, 4, 0);
    return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    await f.close();
  }
}

export async function readElfNeeds(path: string): Promise<ElfNeeds> {
  const { stdout } = await run(`readelf ${path}`, ['readelf', '--file-header', '--dynamic', '--version-info', '--wide', path]);
  return parseReadelf(stdout);
}

export function parseReadelf(text: string): ElfNeeds {
  const needed = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
  const glibc = [...text.matchAll(/Name: GLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]!).sort(compareDotted).at(-1) ?? null;
  const cxx = [...text.matchAll(/Name: GLIBCXX_3\.4\.(\d+)/g)].map((m) => Number(m[1]));
  return {
    machine: /^\s*Machine:\s+(.+)$/m.exec(text)?.[1]?.trim() ?? '',
    flags: /^\s*Flags:\s+(.+)$/m.exec(text)?.[1]?.trim() ?? '',
    needed: [...new Set(needed)],
    glibc,
    glibcxx: cxx.length === 0 ? null : Math.max(...cxx),
  };
}

export function dependsFor(elf: ElfNeeds, arch: AgentArch, binary = 'the executable'): string[] {
  if (elf.machine !== MACHINES[arch] || (arch === 'armhf' && !elf.flags.includes('hard-float'))) {
    throw new OtaError('ERR_OTA_USAGE', `${binary} is for ${elf.machine || 'an unknown machine'}${elf.machine === 'ARM' ? ` (${elf.flags})` : ''}, not ${arch}`, {
      hint: `give the executable npm run build:agent made for ${arch} (out/agent/${arch}/ota-agent)`,
    });
  }
  const packages = new Set<string>();
  for (const soname of elf.needed) {
    const pkg = SONAME_PACKAGES[soname];
    if (pkg === undefined) throw new OtaError('ERR_OTA_USAGE', `${binary} links ${soname}, which no Depends rule covers`, { hint: 'add its Debian package to SONAME_PACKAGES in scripts/agent-deb/elf.ts' });
    packages.add(pkg);
  }
  const versioned = (pkg: string): string => {
    if (pkg === 'libc6' && elf.glibc !== null) return `libc6 (>= ${elf.glibc})`;
    if (pkg === 'libstdc++6' && elf.glibcxx !== null && elf.glibcxx >= 21) {
      const gcc = GLIBCXX_GCC[elf.glibcxx];
      if (gcc === undefined) throw new OtaError('ERR_OTA_USAGE', `${binary} needs GLIBCXX_3.4.${elf.glibcxx}, newer than the table knows`, { hint: 'add it to GLIBCXX_GCC in scripts/agent-deb/elf.ts' });
      return `libstdc++6 (>= ${gcc})`;
    }
    return pkg;
  };
  return [...packages].sort().map(versioned);
}

function compareDotted(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
