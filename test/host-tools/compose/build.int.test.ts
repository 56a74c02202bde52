import { existsSync, readdirSync } from 'node:fs';
import { link, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, start } from '../../../common/exec.js';
import { main } from '../../../host-tools/cli/main.js';
import { build, type BuildResult } from '../../../host-tools/compose/build.js';
import { diffImages } from '../../../host-tools/compose/diff.js';
import { catFile, checkout, pull, readCommit, Repo, Sysroot } from '../../../node-ostree/index.js';
import { fixtureImage, imageDpkg, type FixtureImage } from '../../helpers/build-harness.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { serveDirectory, type FixturePackage } from '../../helpers/fixture-archive.js';
import { otaRejection } from '../../helpers/errors.js';

// Fixture debs exercising what stage 2 must get right, layered on a small real base (dpkg, dash,
// coreutils ...) so that the image's own dpkg and shell do the configuring: natively on amd64,
// through qemu-user on arm64. The scripts record what they saw (their arguments, the machine,
// the network, the service policy) into the image, and the tests read it back from the commit.
const fixtures = (arch: string, v = '1', nonce = ''): FixturePackage[] => [
  {
    name: 'fx-scripts', version: v, arch,
    files: { '/usr/share/fx/version': `${v}\n`, '/usr/share/fx/nonce': nonce },
    scripts: {
      preinst: '#!/bin/sh\nset -e\nmkdir -p /var/lib/fx\necho "$1" > /var/lib/fx/preinst\n',
      postinst: [
        '#!/bin/sh', 'set -e',
        'dpkg-maintscript-helper rm_conffile /etc/fx-old.conf 0.9 -- "$@"',
        'echo "$1 [$2]" > /var/lib/fx/postinst',
        'uname -m > /var/lib/fx/machine',
        // Only the loopback interface exists in the build's network namespace.
        'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /var/lib/fx/interfaces',
        'set +e; /usr/sbin/policy-rc.d fx start; echo $? > /var/lib/fx/policy-rc.d', '',
      ].join('\n'),
    },
  },
  { name: 'fx-conf', version: '1', arch: 'all', files: { '/etc/fx.conf': 'answer=42\n' }, conffiles: ['/etc/fx.conf'] },
  { name: 'fx-tool', version: '1', arch, files: { '/usr/bin/fx-tool': '#!/bin/sh\necho original\n' } },
  {
    name: 'fx-divert', version: '1', arch, depends: 'fx-tool',
    files: { '/usr/bin/fx-tool': '#!/bin/sh\necho wrapper\n' },
    scripts: { preinst: '#!/bin/sh\nset -e\n[ "$1" = install ] && dpkg-divert --package fx-divert --add --rename --divert /usr/bin/fx-tool.distrib /usr/bin/fx-tool\nexit 0\n' },
  },
  { name: 'fx-libsame', version: '1', arch, multiArch: 'same', files: { [`/usr/lib/fx-${arch}/libfx.so.1`]: 'lib\n', '/usr/share/doc/fx-libsame/README': 'same\n' } },
  { name: 'fx-zstd', version: '1', arch, compression: 'zstd', files: { '/usr/share/fx/zstd': 'from a zstd data member\n' } },
  { name: 'fx-clash-a', version: '1', arch: 'all', files: { '/usr/share/fx/clash': 'a\n' } },
  { name: 'fx-clash-b', version: '1', arch: 'all', files: { '/usr/share/fx/clash': 'b\n' } },
  {
    name: 'fx-kernel', version: '1', arch,
    files: { '/boot/vmlinuz-6.1.0-fx': 'not really a kernel\n', '/boot/config-6.1.0-fx': 'CONFIG_FX=y\n', '/usr/lib/linux-image-6.1.0-fx/fx/board.dtb': 'dtb\n' },
  },
];

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-build-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.each(['amd64', 'arm64'])('ota build of fixture debs on %s', (arch) => {
  let fx: FixtureImage;
  let repoPath: string;
  let result: BuildResult;
  let tree: string;
  const events: string[] = [];

  beforeAll(async () => {
    fx = await fixtureImage(join(root, arch), arch, fixtures(arch));
    repoPath = join(fx.dir, 'repo');
    result = await build({ inputs: [fx.manifest], repoPath, cacheDir: fx.cacheDir, env: fx.env, onEvent: (e) => events.push(`${e.level ?? 'info'} ${e.phase}: ${e.message}`) });
    const repo = await Repo.open(repoPath);
    tree = join(fx.dir, 'checkout');
    await checkout(repo, result.images[0]!.ref, tree, { userMode: true });
    repo.close();
  }, 300_000);
  afterAll(async () => {
    await fx?.server.close();
    if (fx) await removeTree(fx.dir);
  });

  const read = (p: string) => readFile(join(tree, p), 'utf8');

  it('commits on a ref named after the image and arch, and every package is configured (dpkg --audit is clean)', async () => {
    const img = result.images[0]!;
    expect(img.ref).toBe(`fx/${arch}`);
    expect(img.checksum).toMatch(/^[0-9a-f]{64}$/);
    const status = await read('usr/lib/sysimage/dpkg/status');
    const states = [...status.matchAll(/^Package: (\S+)\n(?:.+\n)*?Status: (.+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(states.length).toBe(img.packages);
    expect(states.filter((s) => !s.endsWith('install ok installed'))).toEqual([]);
    expect((await imageDpkg(tree, arch, ['--audit'])).trim()).toBe('');
    // the image's own dpkg-query sees every package installed (run through qemu-user on arm64)
    const ii = await imageDpkg(tree, arch, ['--list']);
    expect(ii.split('\n').filter((l) => /^[a-z]{2} /.test(l)).filter((l) => !l.startsWith('ii '))).toEqual([]);
  });

  it("runs preinst (install) and postinst (configure, no old version) with the image's own machine, no network, and service starts denied", async () => {
    expect(await read('usr/share/factory/var/lib/fx/preinst')).toBe('install\n');
    expect(await read('usr/share/factory/var/lib/fx/postinst')).toBe('configure []\n');
    expect((await read('usr/share/factory/var/lib/fx/machine')).trim()).toBe(arch === 'arm64' ? 'aarch64' : 'x86_64');
    expect((await read('usr/share/factory/var/lib/fx/interfaces')).trim()).toBe('lo');
    expect((await read('usr/share/factory/var/lib/fx/policy-rc.d')).trim()).toBe('101');
    expect(existsSync(join(tree, 'usr/sbin/policy-rc.d'))).toBe(false);
  });

  it('installs conffiles into /usr/etc and records them with their md5sum', async () => {
    expect(await read('usr/etc/fx.conf')).toBe('answer=42\n');
    expect(existsSync(join(tree, 'usr/etc/fx.conf.dpkg-new'))).toBe(false);
    expect(await read('usr/lib/sysimage/dpkg/status')).toMatch(/^Conffiles:\n \/etc\/fx\.conf [0-9a-f]{32}$/m);
  });

  it('places a file a preinst diverts as dpkg would: the diverter at the path, the original beside it', async () => {
    expect(await read('usr/bin/fx-tool')).toContain('wrapper');
    expect(await read('usr/bin/fx-tool.distrib')).toContain('original');
    expect(await read('usr/lib/sysimage/dpkg/diversions')).toContain('/usr/bin/fx-tool\n/usr/bin/fx-tool.distrib\nfx-divert\n');
  });

  it('handles Multi-Arch: same names, a zstd data member, and reports an undeclared file conflict', async () => {
    expect(existsSync(join(tree, `usr/lib/sysimage/dpkg/info/fx-libsame:${arch}.list`))).toBe(true);
    expect(await read('usr/share/fx/zstd')).toBe('from a zstd data member\n');
    expect(result.images[0]!.conflicts).toContainEqual({ path: '/usr/share/fx/clash', packages: ['fx-clash-a', 'fx-clash-b'], identical: false, declared: false });
    expect(events.some((e) => e.startsWith('warning union: /usr/share/fx/clash is shipped by fx-clash-a and fx-clash-b'))).toBe(true);
  });

  it('lays the tree out for OSTree: kernel in /usr/lib/modules, /usr/etc, dpkg database in /usr, links into /var, an empty /var made by tmpfiles', async () => {
    const mod = join(tree, 'usr/lib/modules/6.1.0-fx');
    expect(await readFile(join(mod, 'vmlinuz'), 'utf8')).toBe('not really a kernel\n');
    expect(await readFile(join(mod, 'config'), 'utf8')).toBe('CONFIG_FX=y\n');
    expect(await readFile(join(mod, 'dtb/fx/board.dtb'), 'utf8')).toBe('dtb\n');
    expect(readdirSync(join(tree, 'boot'))).toEqual([]);
    expect(existsSync(join(tree, 'etc'))).toBe(false);
    // /var is empty in the commit (libostree ignores it on deploy): tmpfiles makes it at boot
    expect(readdirSync(join(tree, 'var'))).toEqual([]);
    for (const [p, t] of [['home', 'var/home'], ['root', 'var/roothome'], ['opt', 'var/opt'], ['srv', 'var/srv'], ['mnt', 'var/mnt'], ['usr/local', '../var/usrlocal'], ['ostree', 'sysroot/ostree']]) {
      expect(await readlink(join(tree, p!))).toBe(t);
    }
    expect((await stat(join(tree, 'usr/etc/machine-id'))).size).toBe(0);
    const tmpfiles = await read('usr/lib/tmpfiles.d/ota-var.conf');
    expect(tmpfiles).toMatch(/^d \/var\/lib\/fx 0755 0 0 - -$/m);
    expect(tmpfiles).toMatch(/^C \/var\/lib\/fx\/postinst - - - - \/usr\/share\/factory\/var\/lib\/fx\/postinst$/m);
    expect(tmpfiles).toMatch(/^L \/var\/lib\/dpkg - - - - \.\.\/\.\.\/usr\/lib\/sysimage\/dpkg$/m);
    const repo = await Repo.open(repoPath);
    const meta = readCommit(repo, result.images[0]!.ref).metadata;
    repo.close();
    expect(meta.get('ostree.linux')?.value).toBe('6.1.0-fx');
    expect(meta.get('ota.image')?.value).toBe('fx');
  });

  it('deploys into a sysroot directory with libostree (the kernel found, /usr/etc merged into /etc)', async () => {
    const sysrootPath = join(fx.dir, 'sysroot');
    const sysroot = await Sysroot.open(sysrootPath);
    try {
      await sysroot.initFs();
      await sysroot.osInit('fx');
      const sysRepo = await Repo.open(join(sysrootPath, 'ostree/repo'));
      await pull(sysRepo, repoPath, { refs: [result.images[0]!.checksum] });
      sysRepo.close();
      await sysroot.load();
      const d = await sysroot.deploy('fx', result.images[0]!.checksum);
      expect(d.checksum).toBe(result.images[0]!.checksum);
      const dep = join(sysrootPath, d.path);
      expect(await readFile(join(dep, 'etc/fx.conf'), 'utf8')).toBe('answer=42\n');
      expect((await lstat(join(dep, 'usr/bin/fx-tool'))).isFile()).toBe(true);
      const entries = readdirSync(join(sysrootPath, 'boot/loader/entries'));
      expect(entries).toHaveLength(1);
      expect(await readFile(join(sysrootPath, 'boot/loader/entries', entries[0]!), 'utf8')).toMatch(/^linux \/ostree\/fx-[0-9a-f]+\/vmlinuz-6\.1\.0-fx$/m);
    } finally {
      sysroot.close();
    }
  });
});

describe('ota build on amd64: reproducible, incremental, strict, failing scripts', () => {
  let fx: FixtureImage;
  let first: BuildResult;
  let second: BuildResult;
  beforeAll(async () => {
    fx = await fixtureImage(join(root, 'incr'), 'amd64', fixtures('amd64'));
    first = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env });
  }, 300_000);
  afterAll(async () => {
    await fx?.server.close();
  });

  it('builds the same lockfile into a fresh repository with the same commit checksum', async () => {
    const again = await build({ inputs: [fx.lockPath], repoPath: join(fx.dir, 'repo-fresh'), cacheDir: fx.cacheDir, env: fx.env });
    expect(again.images[0]!.checksum).toBe(first.images[0]!.checksum);
    expect(again.images[0]!.noop).toBe(false);
    expect(again.debs.downloaded).toBe(0);
  }, 300_000);

  it('does nothing when nothing changed', async () => {
    const again = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env });
    expect(again.images[0]).toMatchObject({ noop: true, checksum: first.images[0]!.checksum, size: first.images[0]!.size });
    expect(again.debs).toEqual({ reused: 0, imported: 0, downloaded: 0, downloadBytes: 0, downloadedSha256: [] });
  });

  it('after one package changes, fetches and imports only that deb, and ota diff names it and its files', async () => {
    // A nonce makes the new deb's bytes new to the shared download cache too.
    await fx.republish(fixtures('amd64', '2', `${Date.now()} ${Math.random()}\n`));
    await rm(fx.lockPath);
    const requestsBefore = fx.server.requests.length;
    second = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env });
    expect(second.debs).toMatchObject({ downloaded: 1, imported: 1, reused: first.images[0]!.packages - 1 });
    expect(second.images[0]!.debs).toEqual({ fetched: 1, imported: 1, reused: first.images[0]!.packages - 1 });
    expect(fx.server.requests.slice(requestsBefore).filter((r) => r.endsWith('.deb'))).toEqual([expect.stringMatching(/\/fx-scripts_2_amd64\.deb$/)]);
    expect(second.images[0]!.checksum).not.toBe(first.images[0]!.checksum);
    const repo = await Repo.open(join(fx.dir, 'repo'));
    try {
      const d = await diffImages(repo, first.images[0]!.checksum, 'fx/amd64');
      expect(d.packages).toEqual({ added: [], removed: [], changed: [{ name: 'fx-scripts', from: '1', to: '2', direction: 'upgrade' }] });
      expect(d.files.modified).toContain('/usr/share/fx/version');
      expect((await catFile(repo, 'fx/amd64', '/usr/share/fx/version')).toString()).toBe('2\n');
    } finally {
      repo.close();
    }
  }, 300_000);

  it('prints the ref, checksum, size and what it did (ota build), and package and file changes (ota diff, --json)', async () => {
    const out: string[] = [];
    const code = await main(['node', 'ota', 'build', fx.manifest, '--repo', join(fx.dir, 'repo'), '--cache', fx.cacheDir, '-q'], (l) => out.push(l));
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^fx\/amd64 [0-9a-f]{64}$/);
    expect(out[1]).toMatch(/^ {2}\d+ packages, [\d.]+ MiB, kernel 6\.1\.0-fx, up to date$/);
    expect(out[2]).toMatch(/^built 1 image in [\d.]+s: debs 0 fetched \(0 B\), 0 imported, 0 reused$/);
    const built: string[] = [];
    expect(await main(['node', 'ota', 'build', fx.manifest, '--repo', join(fx.dir, 'repo'), '--cache-dir', fx.cacheDir, '--json'], (l) => built.push(l))).toBe(0);
    expect(built).toHaveLength(1);
    expect(JSON.parse(built[0]!)).toEqual({
      images: [expect.objectContaining({ input: fx.manifest, ref: 'fx/amd64', checksum: out[0]!.split(' ')[1], size: expect.any(Number), upToDate: true, kernels: ['6.1.0-fx'], debs: { fetched: 0, imported: 0, reused: 0 } })],
      debs: { fetched: 0, fetchedBytes: 0, imported: 0, reused: 0 },
      seconds: expect.any(Number),
    });
    const diffOut: string[] = [];
    expect(await main(['node', 'ota', 'diff', first.images[0]!.checksum, 'fx/amd64', '--repo', join(fx.dir, 'repo')], (l) => diffOut.push(l))).toBe(0);
    expect(diffOut).toContain('packages: 0 added, 0 removed, 1 changed');
    expect(diffOut).toContain('  ~ fx-scripts 1 -> 2');
    expect(diffOut).toContain('  M /usr/share/fx/version');
    const json: string[] = [];
    expect(await main(['node', 'ota', 'diff', first.images[0]!.checksum, 'fx/amd64', '--repo', join(fx.dir, 'repo'), '--json'], (l) => json.push(l))).toBe(0);
    expect(JSON.parse(json.join('\n'))).toMatchObject({ to: expect.stringMatching(/^[0-9a-f]{64}$/), packages: { changed: [{ name: 'fx-scripts', from: '1', to: '2' }] } });
    const bad: string[] = [];
    expect(await main(['node', 'ota', 'diff', 'no/such-ref', 'fx/amd64', '--repo', join(fx.dir, 'repo')], (l) => bad.push(l))).toBe(2);
  }, 300_000);

  it('resumes after being killed in the middle of configuring: no namespace left running, no work directory left, same commit', async () => {
    const repoPath = join(fx.dir, 'repo-killed');
    const child = start('ota build', [process.execPath, '--import', 'tsx', join(import.meta.dirname, '../../helpers/ota-cli.ts'), 'build', fx.lockPath, '--repo', repoPath, '--cache', fx.cacheDir], { env: { ...fx.env, CI: '1' } });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.onStderr((text) => {
        err += text;
        if (err.includes('dpkg --configure -a')) resolve();
      });
      void child.exited.then(() => reject(new Error(`the build ended before configuring: ${err}`)));
    });
    child.kill('SIGKILL');
    await child.exited;
    // The build's children die with it (setpriv --pdeathsig): wait until they are gone, however
    // long that takes here; a child that outlived the build would hold the test to its timeout.
    const left = async () => (await run('ps', ['ps', '-eo', 'args'])).stdout.split('\n').filter((l) => l.includes(repoPath));
    while ((await left()).length > 0) await new Promise((r) => setTimeout(r, 50));
    expect(await left()).toEqual([]);
    expect(readdirSync(join(repoPath, 'tmp')).some((n) => n.startsWith('ota-stage2-'))).toBe(true);
    const again = await build({ inputs: [fx.lockPath], repoPath, cacheDir: fx.cacheDir, env: fx.env });
    expect(again.images[0]!.checksum).toBe(second.images[0]!.checksum);
    expect(readdirSync(join(repoPath, 'tmp')).filter((n) => n.startsWith('ota-stage2-'))).toEqual([]);
  }, 300_000);

  it('builds several images in one call: each deb imported once for both, both configured side by side', async () => {
    const other = join(fx.dir, 'other.yaml');
    await writeFile(other, (await readFile(fx.manifest, 'utf8')).replace('name: fx', 'name: fx2').replace(', fx-clash-b', ''));
    const phases: string[] = [];
    const r = await build({ inputs: [fx.manifest, other], repoPath: join(fx.dir, 'repo-multi'), cacheDir: fx.cacheDir, env: fx.env, onEvent: (e) => phases.push(e.phase) });
    expect(r.images.map((i) => i.ref)).toEqual(['fx/amd64', 'fx2/amd64']);
    expect(r.images[1]!.packages).toBe(r.images[0]!.packages - 1);
    expect(r.debs.imported).toBe(r.images[0]!.packages);
    // each image counts its own debs: the shared ones are imported once, and in both counts
    expect(r.images.map((i) => i.debs)).toEqual(r.images.map((i) => ({ fetched: 0, imported: i.packages, reused: 0 })));
    // both unions start before either image is committed
    expect(phases.filter((p) => p === 'union').length).toBeGreaterThanOrEqual(2);
    expect(phases.lastIndexOf('union')).toBeLessThan(phases.indexOf('commit'));
  }, 300_000);

  it("fetches a deb the archive has dropped from the source's fallbacks (${VAR} in the manifest), accepted by the lock's SHA256", async () => {
    const mirror = await serveDirectory(join(fx.dir, 'archive'));
    const text = await readFile(fx.manifest, 'utf8');
    try {
      await writeFile(fx.manifest, text.replace(/^( {4}keyring: .*)$/m, '$1\n    fallbacks: ["${OTA_FX_FALLBACK}"]'));
      // A cache of its own, holding every deb but the one the archive now lacks.
      const lock = await readFile(fx.lockPath, 'utf8');
      const zstdSha = /Package: fx-zstd\n(?:.+\n)*?SHA256: ([0-9a-f]{64})/.exec(lock)![1]!;
      const cacheDir = join(fx.dir, 'cache-fallback');
      await mkdir(join(cacheDir, 'debs'), { recursive: true });
      for (const n of readdirSync(join(fx.cacheDir, 'debs'))) if (n.endsWith('.deb') && !n.startsWith(zstdSha)) await link(join(fx.cacheDir, 'debs', n), join(cacheDir, 'debs', n));
      fx.server.fail('/fx-zstd_1_amd64.deb', 404, 10);
      const r = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo-fallback'), cacheDir, env: { ...fx.env, OTA_FX_FALLBACK: mirror.url } });
      expect(r.debs.downloaded).toBe(1);
      expect(mirror.requests.filter((q) => q.endsWith('.deb'))).toEqual([expect.stringMatching(/\/fx-zstd_1_amd64\.deb$/)]);
      expect(r.images[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await mirror.close();
      await writeFile(fx.manifest, text);
    }
  }, 300_000);

  it('--strict refuses undeclared file conflicts, naming path and packages, and makes no image ref', async () => {
    const repoPath = join(fx.dir, 'repo-strict');
    const e = await otaRejection(build({ inputs: [fx.lockPath], repoPath, cacheDir: fx.cacheDir, env: fx.env, strict: true }));
    expect(e.code).toBe('ERR_OTA_CONFLICT');
    expect(e.details.join('\n')).toContain('/usr/share/fx/clash is shipped by fx-clash-a and fx-clash-b');
    const repo = await Repo.open(repoPath);
    expect(repo.listRefs().has('fx/amd64')).toBe(false);
    repo.close();
  }, 300_000);

  it('stops on a failing maintainer script with the package, the script and its output; the repository stays consistent', async () => {
    const bad = await fixtureImage(join(root, 'bad'), 'amd64', [
      { name: 'fx-bad', version: '1', arch: 'amd64', files: { '/usr/share/fx/bad': 'x\n' }, scripts: { postinst: '#!/bin/sh\necho "fx-bad cannot configure: no frobnicator" >&2\nexit 3\n' } },
    ]);
    try {
      const repoPath = join(bad.dir, 'repo');
      const e = await otaRejection(build({ inputs: [bad.manifest], repoPath, cacheDir: bad.cacheDir, env: bad.env }));
      expect(e.code).toBe('ERR_OTA_SCRIPT');
      expect(e.message).toContain('the postinst script of fx-bad failed (exit status 3)');
      expect(e.details.join('\n')).toContain('fx-bad cannot configure: no frobnicator');
      const repo = await Repo.open(repoPath);
      expect(repo.listRefs().has('fx/amd64')).toBe(false);
      expect(repo.listRefs('ota/build').size).toBe(0);
      for (const ref of repo.listRefs('ota/deb').keys()) await repo.fsck(ref);
      repo.close();
      expect(readdirSync(join(repoPath, 'tmp')).filter((n) => n.startsWith('ota-stage2-'))).toEqual([]);
    } finally {
      await bad.server.close();
    }
  }, 300_000);
});
