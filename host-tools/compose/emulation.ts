import { readFile, realpath } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';

/**
 * How programs of an image's architecture run on this host: natively, or through a qemu-user
 * interpreter registered with binfmt_misc. Without the F (fix-binary) flag the kernel opens the
 * interpreter by path inside the chroot, so the build must bind it there: `bindAt` says where.
 *
 * @example
 * const e = await emulationFor('arm64'); // { native: false, interpreter: '/usr/bin/qemu-aarch64-static', bindAt: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P' }
 */
export type Emulation = { native: true } | { native: false; interpreter: string; bindAt?: string };

/** dpkg architecture -> binfmt_misc entry name of qemu-user-static. */
const QEMU: Record<string, string> = {
  arm64: 'aarch64',
  armhf: 'arm',
  armel: 'arm',
  i386: 'i386',
  amd64: 'x86_64',
  riscv64: 'riscv64',
  ppc64el: 'ppc64le',
  s390x: 's390x',
  mips64el: 'mips64el',
};

/** The dpkg architectures this host runs without emulation. */
export function nativeArches(nodeArch: string = process.arch): string[] {
  return { x64: ['amd64', 'i386'], arm64: ['arm64', 'armhf', 'armel'], arm: ['armhf', 'armel'], riscv64: ['riscv64'], ppc64: ['ppc64el'], s390x: ['s390x'] }[nodeArch] ?? [];
}

/** Parses /proc/sys/fs/binfmt_misc/<entry> (pure, for tests). */
export function parseBinfmtEntry(text: string): { enabled: boolean; interpreter?: string; flags: string } {
  const lines = text.split('\n');
  return {
    enabled: lines[0]?.trim() === 'enabled',
    interpreter: lines.find((l) => l.startsWith('interpreter '))?.slice('interpreter '.length).trim(),
    flags: lines.find((l) => l.startsWith('flags:'))?.slice('flags:'.length).trim() ?? '',
  };
}

export async function emulationFor(arch: string, binfmtDir = '/proc/sys/fs/binfmt_misc'): Promise<Emulation> {
  if (nativeArches().includes(arch)) return { native: true };
  const name = QEMU[arch];
  const hint = 'run `sudo scripts/setup` (it installs qemu-user-static and binfmt-support and enables them)';
  if (!name) throw new OtaError('ERR_OTA_EMULATION', `no qemu-user emulator is known for architecture ${arch}`, { hint: 'build on a host of that architecture' });
  let text: string;
  try {
    text = await readFile(`${binfmtDir}/qemu-${name}`, 'utf8');
  } catch {
    throw new OtaError('ERR_OTA_EMULATION', `${arch} programs cannot run on this ${process.arch} host: binfmt_misc has no qemu-${name} entry (${binfmtDir})`, { hint });
  }
  const entry = parseBinfmtEntry(text);
  if (!entry.enabled || !entry.interpreter) throw new OtaError('ERR_OTA_EMULATION', `binfmt_misc entry qemu-${name} is disabled`, { hint: `sudo update-binfmts --enable qemu-${name}` });
  const interpreter = await realpath(entry.interpreter).catch(() => {
    throw new OtaError('ERR_OTA_EMULATION', `binfmt_misc's qemu-${name} interpreter ${entry.interpreter} does not exist`, { hint });
  });
  return entry.flags.includes('F') ? { native: false, interpreter } : { native: false, interpreter, bindAt: entry.interpreter };
}
