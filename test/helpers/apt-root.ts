import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { readLock } from '../../host-tools/lock/lockfile.js';

/**
 * A throw-away apt root that uses the build host's apt sources for a foreign architecture with
 * an empty dpkg status: what `apt-get install -s` selects there is what apt itself would put in
 * a fresh image. Used to check `ota lock` against apt and to benchmark it against apt.
 */
export interface AptRoot {
  dir: string;
  arch: string;
  argv: string[];
}

export interface AptRootOptions {
  etcApt?: string;
  /** Exactly these suites (for example the ones a lock used) instead of a copy of the host's sources. */
  suites?: { uri: string; suite: string; components: string[] }[];
}

export async function makeAptRoot(dir: string, arch: string, options: AptRootOptions = {}): Promise<AptRoot> {
  const etcApt = options.etcApt ?? '/etc/apt';
  for (const d of ['etc/apt/sources.list.d', 'etc/apt/preferences.d', 'etc/apt/apt.conf.d', 'var/lib/apt/lists/partial', 'var/lib/dpkg', 'var/cache/apt/archives/partial']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await writeFile(join(dir, 'var/lib/dpkg/status'), '');
  if (options.suites) {
    // Signed-By is left to the trusted parts (debian-archive-keyring installs its keys there).
    const lines = options.suites.map((s) => `deb ${s.uri} ${s.suite} ${s.components.join(' ')}`);
    await writeFile(join(dir, 'etc/apt/sources.list'), `${lines.join('\n')}\n`);
  } else {
    if (existsSync(join(etcApt, 'sources.list'))) await copyFile(join(etcApt, 'sources.list'), join(dir, 'etc/apt/sources.list'));
    for (const f of await readdir(join(etcApt, 'sources.list.d')).catch(() => [] as string[])) {
      if (/^[A-Za-z0-9_.-]+\.(list|sources)$/.test(f)) await copyFile(join(etcApt, 'sources.list.d', f), join(dir, 'etc/apt/sources.list.d', f));
    }
  }
  const argv = [
    'apt-get',
    '-o', `Dir=${dir}`,
    '-o', `Dir::State::status=${join(dir, 'var/lib/dpkg/status')}`,
    '-o', `Dir::Etc::TrustedParts=${join(etcApt, 'trusted.gpg.d')}`,
    '-o', `APT::Architecture=${arch}`,
    '-o', `APT::Architectures::=${arch}`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'Acquire::Retries=3',
    // Keep apt's binary package cache (container images often turn it off in apt.conf.d), so
    // apt is measured at its best: with pkgcache.bin warm.
    '-o', 'Dir::Cache::pkgcache=pkgcache.bin',
    '-o', 'Dir::Cache::srcpkgcache=srcpkgcache.bin',
  ];
  return { dir, arch, argv };
}

/** `apt-get update` in the root; a mirror mid-sync may fail one index, which apt reports and skips. */
export async function aptUpdate(root: AptRoot): Promise<void> {
  await run('apt-get update (throw-away root)', [...root.argv, 'update', '-q'], { okCodes: [0, 100] });
}

/** What `apt-get install -s --no-install-recommends` would install, as name -> version. */
export async function aptSimulate(root: AptRoot, packages: string[]): Promise<Map<string, string>> {
  const res = await run('apt-get install -s', [...root.argv, 'install', '-s', '-q', '--no-install-recommends', ...packages]);
  const out = new Map<string, string>();
  for (const m of res.stdout.matchAll(/^Inst (\S+) \((\S+)/gm)) out.set(m[1]!.replace(/:.*$/, ''), m[2]!);
  return out;
}

/** The suites a lock was made from (its header), for an apt root that sees exactly the same. */
export function suitesOfLock(lockText: string): { uri: string; suite: string; components: string[] }[] {
  return readLock(lockText, 'lock').header.sources.map(({ uri, suite, components }) => ({ uri, suite, components }));
}
