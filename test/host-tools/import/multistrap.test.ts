import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { parseManifest } from '../../../host-tools/manifest/load.js';
import { importMultistrap, multistrapToManifest, type ImportOptions } from '../../../host-tools/import/multistrap.js';

// Keyring lookups never touch the real /usr/share/keyrings: every test says which files "exist".
const KEYS = '/usr/share/keyrings';
const allKeys: ImportOptions = { exists: () => true };
const noKeys: ImportOptions = { exists: () => false };

function convert(ini: string, where = 'rootfs.conf', options: ImportOptions = allKeys) {
  const result = multistrapToManifest(ini, where, options);
  return { ...result, manifest: parseManifest(result.yaml, 'out.yaml') };
}

function importError(fn: () => unknown): OtaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).code).toBe('ERR_OTA_IMPORT');
    return e as OtaError;
  }
  throw new Error('expected an OtaError');
}

/** The configuration multistrap(1) documents as its example, with a made-up mirror. */
const CLASSIC = `[General]
arch=armhf
directory=/opt/multistrap/
# same as --tidy-up option if set to true
cleanup=true
# same as --no-auth option if set to true
# keyring packages listed in each bootstrap will
# still be installed.
noauth=false
# extract all downloaded archives (default is true)
unpack=true
# whether to add the /suite to be explicit about where apt
# needs to look for packages. Default is false.
explicitsuite=false
# enable MultiArch for the specified architectures
# default is empty
multiarch=
# aptsources is a list of sections to be used
# the /etc/apt/sources.list.d/multistrap.sources.list
# of the target. Order is not important
aptsources=Debian
# the bootstrap option determines which repository
# is used to calculate the list of Priority: required packages
# and which packages go into the rootfs.
# The order of sections is not important.
bootstrap=Debian

[Debian]
packages=
source=http://mirror.example/debian
keyring=debian-archive-keyring
suite=bookworm
`;

describe('multistrapToManifest', () => {
  it('converts the classic [General] + [Debian] configuration', () => {
    const { manifest, warnings, yaml } = convert(CLASSIC, 'configs/Debian Bookworm.conf');
    expect(manifest).toEqual({
      name: 'debian-bookworm',
      arch: 'armhf',
      sources: [
        {
          uri: 'http://mirror.example/debian',
          suites: ['bookworm'],
          components: ['main'],
          keyring: `${KEYS}/debian-archive-keyring.gpg`,
          priority: 500,
        },
      ],
      variant: 'minbase',
      // multistrap installs the keyring packages into the rootfs as well.
      packages: ['debian-archive-keyring'],
      exclude: [],
      recommends: false,
      debs: [],
    });
    expect(warnings).toEqual([]);
    expect(yaml.split('\n')[0]).toBe('# imported from configs/Debian Bookworm.conf by ota import multistrap');
    // Keys come out in the schema's order.
    const keys = yaml.split('\n').filter((l) => /^[a-z]+:/.test(l)).map((l) => l.split(':')[0]);
    expect(keys).toEqual(['name', 'arch', 'sources', 'variant', 'packages', 'recommends']);
  });

  it('takes the name from the option, and rejects a name the manifest would not accept', () => {
    expect(convert(CLASSIC, 'x.conf', { ...allKeys, name: 'panel-2' }).manifest.name).toBe('panel-2');
    expect(importError(() => multistrapToManifest(CLASSIC, 'x.conf', { name: 'Panel 2' })).message).toMatch(/"Panel 2"/);
  });

  it('merges several sections: sources from aptsources and bootstrap, packages only from bootstrap', () => {
    const ini = `[General]
arch=arm64
directory=/srv/rootfs
bootstrap=Base Updates Extra
aptsources=Base Updates Security

[Base]
packages=systemd-sysv udev kmod
packages=openssh-server
source=http://mirror.example/debian
keyring=debian-archive-keyring
suite=bookworm
components=main contrib non-free-firmware

[Updates]
packages=openssh-server ca-certificates
source=http://mirror.example/debian
keyring=debian-archive-keyring
suite=bookworm-updates
components=main non-free-firmware
omitdebsrc=true

[Security]
packages=never-installed
source=http://security.mirror.example/debian-security
keyring=debian-archive-keyring
suite=bookworm-security
components=main

[Extra]
packages=gateway-agent
source=https://apt.vendor.example/debian
keyring=vendor-archive-keyring
suite=stable
components=main
`;
    const exists = (p: string) => p !== `${KEYS}/vendor-archive-keyring.gpg`;
    const { manifest, warnings } = convert(ini, 'gw.conf', { exists });
    expect(manifest.arch).toBe('arm64');
    expect(manifest.sources.map((s) => [s.uri, s.suites, s.components, s.keyring])).toEqual([
      ['http://mirror.example/debian', ['bookworm'], ['main', 'contrib', 'non-free-firmware'], `${KEYS}/debian-archive-keyring.gpg`],
      ['http://mirror.example/debian', ['bookworm-updates'], ['main', 'non-free-firmware'], `${KEYS}/debian-archive-keyring.gpg`],
      ['http://security.mirror.example/debian-security', ['bookworm-security'], ['main'], `${KEYS}/debian-archive-keyring.gpg`],
      ['https://apt.vendor.example/debian', ['stable'], ['main'], undefined],
    ]);
    // Repeated packages= lines concatenate; duplicates across sections collapse; Security's are not installed.
    expect(manifest.packages).toEqual([
      'systemd-sysv',
      'udev',
      'kmod',
      'openssh-server',
      'ca-certificates',
      'gateway-agent',
      'debian-archive-keyring',
      'vendor-archive-keyring',
    ]);
    expect(warnings.some((w) => w.includes('[Security]') && w.includes('only in aptsources='))).toBe(true);
    expect(warnings.some((w) => w.includes('[Security] packages= are not installed'))).toBe(true);
    expect(warnings.some((w) => w.includes('vendor-archive-keyring') && w.includes('set keyring:'))).toBe(true);
  });

  it('deduplicates sections that name the same (source, suite), keeping every component', () => {
    const ini = `[General]
arch=amd64
bootstrap=Main NonFree
[Main]
packages=bash
source=http://mirror.example/debian/
suite=bookworm
keyring=debian-archive-keyring
[NonFree]
packages=firmware-misc-nonfree
source=http://mirror.example/debian
suite=bookworm
components=non-free-firmware
keyring=debian-archive-keyring
`;
    const { manifest } = convert(ini);
    expect(manifest.sources).toHaveLength(1);
    expect(manifest.sources[0]!.components).toEqual(['main', 'non-free-firmware']);
    expect(manifest.packages).toEqual(['bash', 'firmware-misc-nonfree', 'debian-archive-keyring']);
  });

  it('reads section names and keys case-insensitively, and the older debootstrap= spelling', () => {
    const ini = `[general]
ARCH=amd64
DebootStrap=DEBIAN
[Debian]
Packages=curl
Source=http://mirror.example/debian
Suite=bookworm
Keyring=debian-archive-keyring
`;
    const { manifest, warnings } = convert(ini);
    expect(manifest.sources[0]!.uri).toBe('http://mirror.example/debian');
    expect(manifest.packages).toEqual(['curl', 'debian-archive-keyring']);
    expect(warnings).toEqual([]);
  });

  it('accepts indented continuation lines and strips comments after values', () => {
    const ini = `[General]
arch=amd64
bootstrap=Debian
[Debian]
packages=curl wget  # the network tools
    jq
source=http://mirror.example/debian
suite=bookworm
keyring=debian-archive-keyring
`;
    expect(convert(ini).manifest.packages).toEqual(['curl', 'wget', 'jq', 'debian-archive-keyring']);
  });

  it('maps omitrequired=true to variant none, and allowrecommends=true to recommends', () => {
    const ini = CLASSIC.replace('[General]', '[General]\nomitrequired=true\nallowrecommends=true');
    const { manifest } = convert(ini);
    expect(manifest.variant).toBe('none');
    expect(manifest.recommends).toBe(true);
    // Only the literal "true" counts, as in multistrap.
    const off = convert(CLASSIC.replace('[General]', '[General]\nomitrequired=yes\nallowrecommends=false')).manifest;
    expect(off.variant).toBe('minbase');
    expect(off.recommends).toBe(false);
  });

  it('warns about noauth=true and addimportant=true, and lists nothing for addimportant', () => {
    const ini = CLASSIC.replace('noauth=false', 'noauth=true').replace('[General]', '[General]\naddimportant=true');
    const { manifest, warnings } = convert(ini);
    expect(warnings.some((w) => w.startsWith('noauth=true') && w.includes('verifies'))).toBe(true);
    expect(warnings.some((w) => w.startsWith('addimportant=true') && w.includes('Priority: important'))).toBe(true);
    expect(manifest.packages).toEqual(['debian-archive-keyring']);
    // The warnings travel in the file's header too.
    expect(convert(ini).yaml).toMatch(/^# warning: noauth=true/m);
  });

  it('rejects omitrequired together with addimportant, as multistrap does', () => {
    const ini = CLASSIC.replace('[General]', '[General]\nomitrequired=true\naddimportant=true');
    expect(importError(() => multistrapToManifest(ini, 'x.conf', allKeys)).message).toMatch(/omitrequired.*addimportant/);
  });

  it('maps a keyring package to its file when present, and warns and leaves it out when not', () => {
    const seen: string[] = [];
    const present = convert(CLASSIC, 'x.conf', {
      keyringDir: '/opt/keys',
      exists: (p) => (seen.push(p), p === '/opt/keys/debian-archive-keyring.gpg'),
    });
    expect(seen).toEqual(['/opt/keys/debian-archive-keyring.gpg']);
    expect(present.manifest.sources[0]!.keyring).toBe('/opt/keys/debian-archive-keyring.gpg');
    expect(present.warnings).toEqual([]);

    const absent = convert(CLASSIC, 'x.conf', noKeys);
    expect(absent.manifest.sources[0]!.keyring).toBeUndefined();
    expect(absent.warnings).toHaveLength(1);
    expect(absent.warnings[0]).toMatch(/\[Debian\] keyring=debian-archive-keyring: .*debian-archive-keyring\.gpg not found.*set keyring:/);
    // The keyring package is still installed, as multistrap installs it.
    expect(absent.manifest.packages).toEqual(['debian-archive-keyring']);
  });

  it("finds ubuntu-keyring's ubuntu-archive-keyring.gpg", () => {
    const ini = CLASSIC.replace('keyring=debian-archive-keyring', 'keyring=ubuntu-keyring');
    const { manifest } = convert(ini, 'x.conf', { exists: (p) => p === `${KEYS}/ubuntu-archive-keyring.gpg` });
    expect(manifest.sources[0]!.keyring).toBe(`${KEYS}/ubuntu-archive-keyring.gpg`);
  });

  it('warns when a used section names no keyring', () => {
    const { manifest, warnings } = convert(CLASSIC.replace('keyring=debian-archive-keyring\n', ''));
    expect(manifest.sources[0]!.keyring).toBeUndefined();
    expect(manifest.packages).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/\[Debian\] names no keyring; set keyring:/)]);
  });

  it('pins packages to their suite with explicitsuite=true', () => {
    const ini = `[General]
arch=amd64
explicitsuite=true
bootstrap=Stable Backports
[Stable]
packages=systemd curl=7.88.1-10+deb12u5
source=http://mirror.example/debian
suite=bookworm
keyring=debian-archive-keyring
[Backports]
packages=linux-image-amd64
source=http://mirror.example/debian
suite=bookworm-backports
keyring=debian-archive-keyring
`;
    const { manifest, warnings } = convert(ini);
    expect(manifest.packages).toEqual(['systemd/bookworm', 'curl=7.88.1-10+deb12u5', 'linux-image-amd64/bookworm-backports', 'debian-archive-keyring']);
    expect(warnings).toEqual([]);
  });

  it('warns about unknown keys naming the section and key, and about unsupported settings', () => {
    const ini = CLASSIC.replace('suite=bookworm', 'suite=bookworm\npakages=vim\nmirror=http://x.example')
      .replace('[General]', '[General]\nsetupscript=/usr/share/multistrap/chroot.sh\nconfigscript=\nhookdir=/srv/hooks\nfrobnicate=yes');
    const { manifest, warnings } = convert(ini);
    expect(manifest.packages).toEqual(['debian-archive-keyring']);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/unknown key "pakages" in \[Debian\]/),
        expect.stringMatching(/unknown key "mirror" in \[Debian\]/),
        expect.stringMatching(/unknown key "frobnicate" in \[General\]/),
        expect.stringMatching(/setupscript=.* is not supported/),
        expect.stringMatching(/hookdir=\/srv\/hooks is not supported/),
      ]),
    );
    // An empty configscript= sets nothing, so it is not worth a warning.
    expect(warnings.some((w) => w.includes('configscript'))).toBe(false);
    // Warnings point at the line.
    expect(warnings.find((w) => w.includes('"pakages"'))).toMatch(/^rootfs\.conf:\d+: /);
  });

  it('rejects an architecture the manifest does not support, naming the value and the file', () => {
    const e = importError(() => multistrapToManifest(CLASSIC.replace('arch=armhf', 'arch=armel'), 'old/armel.conf', allKeys));
    expect(e.message).toContain('arch=armel');
    expect(e.message).toContain('old/armel.conf');
    expect(e.exitCode).toBe(2);
    expect(importError(() => multistrapToManifest(CLASSIC.replace('arch=armhf', 'arch='), 'a.conf')).message).toMatch(/^a\.conf sets no arch= in \[General\]/);
  });

  it('rejects a used section without suite= or source=, naming the section and the file', () => {
    const noSuite = importError(() => multistrapToManifest(CLASSIC.replace('suite=bookworm\n', ''), 'cfg/rootfs.conf', allKeys));
    expect(noSuite.message).toMatch(/\[Debian\] has no suite= \(cfg\/rootfs\.conf:\d+\)/);
    const noSource = importError(() => multistrapToManifest(CLASSIC.replace(/^source=.*\n/m, ''), 'cfg/rootfs.conf', allKeys));
    expect(noSource.message).toMatch(/\[Debian\] has no source= \(cfg\/rootfs\.conf:\d+\)/);
  });

  it('skips (with a warning) an unused section even when it is incomplete', () => {
    const { warnings } = convert(`${CLASSIC}\n[Unused]\npackages=foo\n`);
    expect(warnings).toEqual([expect.stringMatching(/\[Unused\] is not listed in bootstrap= or aptsources=; skipped/)]);
  });

  it('rejects a section that is listed but not defined', () => {
    const e = importError(() => multistrapToManifest(CLASSIC.replace('bootstrap=Debian', 'bootstrap=Debian Extras'), 'r.conf', allKeys));
    expect(e.message).toMatch(/\[extras\] is listed but not defined in r\.conf/);
  });

  it('rejects lines that are not INI and package names the manifest would not accept', () => {
    expect(importError(() => multistrapToManifest(`${CLASSIC}just words\n`, 'r.conf')).message).toMatch(/r\.conf:\d+: expected "key=value"/);
    expect(importError(() => multistrapToManifest('arch=amd64\n', 'r.conf')).message).toMatch(/before any \[section\]/);
    const bad = CLASSIC.replace('packages=\n', 'packages=Bad_Name\n');
    expect(importError(() => multistrapToManifest(bad, 'r.conf', allKeys)).message).toMatch(/\[Debian\] "Bad_Name"/);
  });

  it('turns copy:// sources into file: URLs', () => {
    const ini = CLASSIC.replace('source=http://mirror.example/debian', 'source=copy:///srv/local-repo');
    const { manifest, warnings } = convert(ini);
    expect(manifest.sources[0]!.uri).toBe('file:///srv/local-repo');
    expect(warnings).toEqual([expect.stringMatching(/copy:\/\/\/srv\/local-repo became file:\/\/\/srv\/local-repo/)]);
  });

  it("uses the host's sources when no section is listed, as multistrap does", () => {
    const { manifest, warnings } = convert('[General]\narch=amd64\ndirectory=/tmp/x\n');
    expect(manifest.sources).toEqual([{ uri: 'host', priority: 500 }]);
    expect(manifest.packages).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/uri: host/)]);
  });

  it('refuses include= without file access, rather than dropping the included file', () => {
    const e = importError(() => multistrapToManifest(`[General]\ninclude=base.conf\n${CLASSIC.replace('[General]\n', '')}`, 'v.conf'));
    expect(e.message).toMatch(/v\.conf:2: include=base\.conf/);
    expect(e.hint).toMatch(/importMultistrap/);
  });
});

describe('importMultistrap', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-multistrap-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A shared base file and a board variant including it, as multistrap's own cross/ configs are laid out. */
  async function writeCascade(): Promise<string> {
    await mkdir(join(dir, 'shared'));
    await writeFile(
      join(dir, 'shared', 'base.conf'),
      `[General]
arch=amd64
directory=/srv/base
cleanup=true
noauth=false
explicitsuite=false
configscript=
bootstrap=Debian
aptsources=Debian

[Debian]
packages=systemd-sysv openssh-server
source=http://mirror.example/debian
keyring=debian-archive-keyring
suite=bookworm
`,
    );
    const variant = join(dir, 'Panel_ARM.conf');
    await writeFile(
      variant,
      `[General]
include=shared/base.conf
arch=armhf
allowrecommends=true
bootstrap=Toolchain

[debian]
suite=trixie

[Toolchain]
packages=panel-ui
packages=panel-firmware
source=http://vendor.example/apt
keyring=vendor-archive-keyring
suite=stable
components=main firmware
`,
    );
    return variant;
  }

  it('follows include= relative to the file; the including file wins and bootstrap lists add up', async () => {
    const path = await writeCascade();
    const { yaml, warnings } = await importMultistrap(path, { exists: () => true });
    const manifest = parseManifest(yaml, 'out.yaml');
    expect(manifest.name).toBe('panel-arm');
    expect(manifest.arch).toBe('armhf');
    expect(manifest.recommends).toBe(true);
    expect(manifest.sources.map((s) => [s.uri, s.suites, s.components])).toEqual([
      ['http://mirror.example/debian', ['trixie'], ['main']],
      ['http://vendor.example/apt', ['stable'], ['main', 'firmware']],
    ]);
    expect(manifest.packages).toEqual([
      'systemd-sysv',
      'openssh-server',
      'panel-ui',
      'panel-firmware',
      'debian-archive-keyring',
      'vendor-archive-keyring',
    ]);
    expect(warnings).toEqual([]);
    expect(yaml.split('\n')[0]).toBe(`# imported from ${path} by ota import multistrap`);
    expect(yaml).toContain(`# (with ${join(dir, 'shared', 'base.conf')} included)`);
  });

  it('takes the name option', async () => {
    const path = await writeCascade();
    const { yaml } = await importMultistrap(path, { name: 'panel', exists: () => true });
    expect(parseManifest(yaml, 'out.yaml').name).toBe('panel');
  });

  it('reports a missing include naming the file that includes it', async () => {
    const path = join(dir, 'a.conf');
    await writeFile(path, `[General]\ninclude=missing.conf\n${CLASSIC.replace('[General]\n', '')}`);
    await expect(importMultistrap(path)).rejects.toThrow(/cannot read multistrap config .*missing\.conf \(included from .*a\.conf\)/);
  });

  it('reports an include loop', async () => {
    await writeFile(join(dir, 'a.conf'), '[General]\ninclude=b.conf\n');
    await writeFile(join(dir, 'b.conf'), '[General]\ninclude=a.conf\n');
    await expect(importMultistrap(join(dir, 'a.conf'))).rejects.toMatchObject({ code: 'ERR_OTA_IMPORT', message: expect.stringMatching(/include loop/) });
  });

  it('reports an unreadable file as an import error', async () => {
    await expect(importMultistrap(join(dir, 'nope.conf'))).rejects.toMatchObject({ code: 'ERR_OTA_IMPORT' });
  });
});
