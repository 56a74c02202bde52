import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { loadAgentConfig } from '../../../device-agent/config/load.js';
import { deviceIdFromMachineId } from '../../../device-agent/config/machine-id.js';
import { planProvision, writeProvision } from '../../../host-tools/image/provision.js';
import { buildAgentDeb, type BuiltAgentDeb } from '../../../scripts/agent-deb/build.js';
import { FALLBACK_LINKED, RUNTIME_DEPENDS } from '../../../scripts/agent-deb/elf.js';
import { seaRelayLaunch } from '../../../device-agent/daemon/node-flags.js';
import { readPins } from '../../../scripts/build-agent/build.js';

// The agent's .deb built by the real dpkg-deb from a stand-in executable (a shell script named ota-agent
// that prints a version, in place of the one npm run build:agent makes), then read back with dpkg-deb,
// md5sum and systemd-analyze.
const REPO = join(import.meta.dirname, '../../..');
const EPOCH = 1_700_000_000;

let dir: string;
let binary: string;
let deb: BuiltAgentDeb;
let tree: string;
let relay: { args: string[]; nodeOptions: string | null };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-deb-'));
  binary = join(dir, 'stand-in/ota-agent');
  await mkdir(join(dir, 'stand-in'));
  await writeFile(binary, '#!/bin/sh\necho "ota-agent 0.1.0 (stand-in)"\n');
  await chmod(binary, 0o755);
  // The relay's flags as arm64's executable takes them: the unit systemd-analyze verifies below is the shipped one.
  relay = seaRelayLaunch((await readPins()).node.arm64.version);
  deb = await buildAgentDeb({ arch: 'arm64', binary, outDir: join(dir, 'out'), version: '0.1.0', epochSeconds: EPOCH, nodeOptions: relay.nodeOptions, relayArgs: relay.args });
  tree = join(dir, 'tree');
  await run('extract', ['dpkg-deb', '-x', deb.path, tree]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function dpkgDeb(...args: string[]): Promise<string> {
  return (await run('dpkg-deb', ['dpkg-deb', ...args])).stdout;
}

describe('build:agent-deb with a stand-in executable', () => {
  it('writes out/ota-agent_<version>_<arch>.deb whose control fields dpkg-deb reads', async () => {
    expect(deb.path).toBe(join(dir, 'out/ota-agent_0.1.0_arm64.deb'));
    const fields = await dpkgDeb('-f', deb.path, 'Package', 'Version', 'Architecture', 'Depends', 'Maintainer', 'Section', 'Priority');
    expect(fields).toContain('Package: ota-agent\n');
    expect(fields).toContain('Version: 0.1.0\n');
    expect(fields).toContain('Architecture: arm64\n');
    // A stand-in that is not ELF: what Node's official builds link (elf.test.ts has the ELF case).
    expect(fields).toContain(`Depends: ${[...FALLBACK_LINKED, ...RUNTIME_DEPENDS].join(', ')}\n`);
    expect(fields).toMatch(/^Maintainer: .+ <.+>$/m);
    const info = await dpkgDeb('--info', deb.path);
    expect(info).toMatch(/^ Description: .+$/m);
    expect(info).toMatch(/^\s+\d+ bytes,\s+\d+ lines\s+\*\s+postinst\s+#!\/bin\/sh$/m);
  });

  it('holds the files with their modes, all owned by root:root, and nothing else', async () => {
    const listing = (await dpkgDeb('--contents', deb.path)).trim().split('\n').map((l) => l.split(/\s+/));
    const byPath = new Map(listing.map((cols) => [cols.at(-1)!.replace(/^\.\//, '/'), { mode: cols[0]!, owner: cols[1]! }]));
    for (const { owner } of byPath.values()) expect(owner).toBe('root/root');
    expect(byPath.get('/usr/bin/ota-agent')?.mode).toBe('-rwxr-xr-x');
    for (const f of ['/lib/systemd/system/ota-agent.service', '/usr/lib/ota/agent.yaml', '/etc/ota/agent.yaml', '/usr/share/doc/ota-agent/copyright', '/usr/share/doc/ota-agent/changelog.gz']) {
      expect(byPath.get(f)?.mode, f).toBe('-rw-r--r--');
    }
    for (const d of ['/etc/ota/agent.d/', '/etc/ota/health/required.d/', '/etc/ota/health/wanted.d/', '/etc/greenboot/check/required.d/', '/etc/greenboot/check/wanted.d/']) {
      expect(byPath.get(d)?.mode, d).toBe('drwxr-xr-x');
    }
    const files = [...byPath.keys()].filter((p) => !p.endsWith('/')).sort();
    expect(files).toEqual([
      '/etc/ota/agent.yaml',
      '/lib/systemd/system/ota-agent.service',
      '/usr/bin/ota-agent',
      '/usr/lib/ota/agent.yaml',
      '/usr/share/bash-completion/completions/ota-agent',
      '/usr/share/doc/ota-agent/changelog.gz',
      '/usr/share/doc/ota-agent/copyright',
      '/usr/share/man/man1/ota-agent.1.gz',
      '/usr/share/zsh/vendor-completions/_ota-agent',
    ]);
    // The man page is the CLI's own, dated by SOURCE_DATE_EPOCH; the completion names the agent's verbs.
    const man = gunzipSync(await readFile(join(tree, 'usr/share/man/man1/ota-agent.1.gz'))).toString();
    expect(man.split('\n')[0]).toMatch(/^\.TH OTA\\-AGENT 1 "2023-11-14" /);
    expect(await readFile(join(tree, 'usr/share/bash-completion/completions/ota-agent'), 'utf8')).toContain('upgrade');
    // Every member carries SOURCE_DATE_EPOCH, not the time of the build.
    expect(new Set(listing.map((cols) => `${cols[3]} ${cols[4]}`))).toEqual(new Set([new Date(EPOCH * 1000).toISOString().slice(0, 16).replace('T', ' ')]));
    expect(await run('stand-in', [join(tree, 'usr/bin/ota-agent')]).then((r) => r.stdout)).toBe('ota-agent 0.1.0 (stand-in)\n');
  });

  it('lists /etc files as conffiles and an md5sum for every file that md5sum -c accepts', async () => {
    const control = join(dir, 'control');
    await run('control', ['dpkg-deb', '-e', deb.path, control]);
    expect(await readFile(join(control, 'conffiles'), 'utf8')).toBe('/etc/ota/agent.yaml\n');
    const sums = await readFile(join(control, 'md5sums'), 'utf8');
    const listed = (await dpkgDeb('--contents', deb.path)).trim().split('\n').filter((l) => l.startsWith('-')).map((l) => l.split(/\s+/).at(-1)!.replace(/^\.\//, ''));
    expect(sums.trim().split('\n').map((l) => l.split('  ')[1])).toEqual(listed.sort());
    const check = await run('md5sum -c', ['md5sum', '--check', '--strict', join(control, 'md5sums')], { cwd: tree });
    expect(check.stdout.trim().split('\n').every((l) => l.endsWith(': OK'))).toBe(true);
  });

  it('builds the same bytes twice from the same input, whatever the umask and the output folder', async () => {
    const before = process.umask(0o077);
    let again: BuiltAgentDeb;
    try {
      again = await buildAgentDeb({ arch: 'arm64', binary, outDir: join(dir, 'again'), version: '0.1.0', epochSeconds: EPOCH, nodeOptions: relay.nodeOptions, relayArgs: relay.args });
    } finally {
      process.umask(before);
    }
    expect(again.sha256).toBe(deb.sha256);
    expect((await readFile(again.path)).equals(await readFile(deb.path))).toBe(true);
    const later = await buildAgentDeb({ arch: 'arm64', binary, outDir: join(dir, 'later'), version: '0.1.0', epochSeconds: EPOCH + 86_400, nodeOptions: relay.nodeOptions, relayArgs: relay.args });
    expect(later.sha256).not.toBe(deb.sha256);
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze') || !existsSync('/lib/systemd/system/multi-user.target'))('systemd-analyze verify finds nothing to say about the unit', async () => {
    // verify resolves the unit's dependencies and ExecStart inside --root: the host's units beside the package's.
    const root = join(dir, 'verify-root');
    await mkdir(join(root, 'lib/systemd'), { recursive: true });
    await cp('/lib/systemd/system', join(root, 'lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    await cp(join(tree, 'lib/systemd/system/ota-agent.service'), join(root, 'lib/systemd/system/ota-agent.service'));
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await cp(join(tree, 'usr/bin/ota-agent'), join(root, 'usr/bin/ota-agent'));
    const r = await run('systemd-analyze verify', ['systemd-analyze', 'verify', `--root=${root}`, '/lib/systemd/system/ota-agent.service']);
    // It exits 0 even for an unknown key or a bad value, and says so on stderr.
    expect(r.stderr).toBe('');
  });

  it.skipIf(!existsSync('/usr/bin/lintian'))('lintian reports no error', async () => {
    const r = await run('lintian', ['lintian', '--fail-on', 'error', deb.path], { okCodes: [0, 1, 2] });
    expect(r.stdout.split('\n').filter((l) => l.startsWith('E:'))).toEqual([]);
  });

  it('an ELF executable: Depends from what it links, and refused for another architecture', async () => {
    // This machine's /bin/true stands in for the agent: a real ELF of the host's architecture.
    const elf = join(dir, 'elf/ota-agent');
    await mkdir(join(dir, 'elf'));
    await cp('/bin/true', elf);
    const host = (await run('arch', ['dpkg', '--print-architecture'])).stdout.trim();
    const built = await buildAgentDeb({ arch: host, binary: elf, outDir: join(dir, 'elf-out'), version: '0.1.0', epochSeconds: EPOCH, nodeOptions: null });
    const depends = (await dpkgDeb('-f', built.path, 'Depends')).trim().replace(/^Depends: /, '');
    const libc = /^libc6 \(>= ([0-9.]+)\)$/.exec(depends.split(', ')[0]!)?.[1];
    expect(libc, depends).toBeDefined();
    // The host runs /bin/true, so its libc6 satisfies what the package asks.
    const installed = (await run('libc6', ['dpkg-query', '-W', '-f', '${Version}', `libc6:${host}`])).stdout;
    await run('compare', ['dpkg', '--compare-versions', installed, 'ge', libc!]);
    expect(depends.split(', ').slice(-2)).toEqual(RUNTIME_DEPENDS);
    const other = host === 'arm64' ? 'amd64' : 'arm64';
    await expect(buildAgentDeb({ arch: other, binary: elf, outDir: join(dir, 'elf-other'), version: '0.1.0', epochSeconds: EPOCH, nodeOptions: null })).rejects.toThrow(`not ${other}`);
    expect(existsSync(join(dir, 'elf-other'))).toBe(false);
  });

  it('its configuration loads with the agent\'s loader under ota image\'s provisioning and a board drop-in', async () => {
    // The package's files as extracted, the layer ota image writes, the board's keys (which no package of an
    // architecture can know) in a drop-in, and the machine-id systemd writes at the first boot.
    const root = join(dir, 'device');
    await cp(tree, root, { recursive: true });
    const plan = await planProvision({ group: 'lab', remote: 'https://updates.example/fleet', broker: 'mqtt://broker.example:1883' });
    await writeProvision(root, plan!);
    await writeFile(join(root, 'etc/ota/agent.d/00-board.yaml'), 'board: qemu-arm64\nbootloader: { kind: uboot, envPath: /boot/efi/ota.env }\n');
    const machineId = '0123456789abcdef0123456789abcdef';
    await writeFile(join(root, 'etc/machine-id'), `${machineId}\n`);
    const { config, files, deviceIdFrom } = await loadAgentConfig({ root });
    expect(files.map((f) => f.slice(root.length))).toEqual(['/usr/lib/ota/agent.yaml', '/etc/ota/agent.yaml', '/etc/ota/agent.d/00-board.yaml', '/etc/ota/agent.d/10-provision.yaml']);
    expect(config.arch).toBe('arm64');
    expect(config.deviceId).toBe(deviceIdFromMachineId(machineId, 'x'));
    expect(deviceIdFrom).toBe(join(root, 'etc/machine-id'));
    expect(config.group).toBe('lab');
    expect(config.mqtt?.url).toBe('mqtt://broker.example:1883');
    // The health folders the agent reads by default are the ones the package made.
    for (const r of config.health.scriptRoots) {
      for (const level of ['required.d', 'wanted.d']) expect(existsSync(join(tree, r, level)), `${r}/${level}`).toBe(true);
    }
  });

  // The maintainer scripts as dpkg runs them for a root that is not the running system (DPKG_ROOT, as when an
  // image is configured): real deb-systemd-helper. Where systemd runs the host, postinst would also start the
  // unit on the host, so the test runs only where it does not.
  it.skipIf(existsSync('/run/systemd/system') || !existsSync('/usr/bin/deb-systemd-helper'))('postinst enables the unit in the root it configures; postrm purge forgets it', async () => {
    const root = join(dir, 'dpkg-root');
    await cp(tree, root, { recursive: true });
    const control = join(dir, 'scripts');
    await run('control', ['dpkg-deb', '-e', deb.path, control]);
    const script = (name: string, ...args: string[]) =>
      run(name, [join(control, name), ...args], { env: { ...process.env, DPKG_ROOT: root, DPKG_MAINTSCRIPT_PACKAGE: 'ota-agent', DPKG_MAINTSCRIPT_NAME: name } });
    await script('postinst', 'configure');
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/ota-agent.service');
    expect(await readlink(wants)).toBe('/lib/systemd/system/ota-agent.service');
    await script('postrm', 'purge');
    expect(existsSync(wants)).toBe(false);
  });

  it('refuses a missing or non-executable binary before writing anything', async () => {
    const out = join(dir, 'refused');
    await expect(buildAgentDeb({ arch: 'arm64', binary: join(dir, 'nope'), outDir: out, version: '0.1.0', epochSeconds: EPOCH, nodeOptions: null })).rejects.toThrow(/no such file/);
    const plain = join(dir, 'plain');
    await writeFile(plain, 'x');
    await expect(buildAgentDeb({ arch: 'arm64', binary: plain, outDir: out, version: '0.1.0', epochSeconds: EPOCH, nodeOptions: null })).rejects.toThrow(/not an executable file/);
    await expect(buildAgentDeb({ arch: 'sparc', binary, outDir: out, version: '0.1.0', epochSeconds: EPOCH, nodeOptions: null })).rejects.toThrow(/no architecture/);
    expect(existsSync(out)).toBe(false);
  });

  it('npm run build:agent-deb: the script from the command line, dated by SOURCE_DATE_EPOCH, gives the same bytes', async () => {
    const out = join(dir, 'cli');
    const r = await run('build:agent-deb', [process.execPath, '--import', 'tsx', join(REPO, 'scripts/build-agent-deb.ts'), '--arch', 'arm64', '--binary', binary, '--out', out, '--version', '0.1.0'], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) },
    });
    expect(r.stdout).toMatch(new RegExp(`^build:agent-deb: ${join(out, 'ota-agent_0.1.0_arm64.deb')}: [0-9.]+ MB, sha256 [0-9a-f]{64}\\n$`));
    // The script gives the relay's flags as arm64's executable takes them: the same bytes as a direct build with them.
    const direct = await buildAgentDeb({ arch: 'arm64', binary, outDir: join(dir, 'direct'), version: '0.1.0', epochSeconds: EPOCH, nodeOptions: relay.nodeOptions, relayArgs: relay.args });
    expect(r.stdout).toContain(`sha256 ${direct.sha256}`);
    const bad = await run('build:agent-deb', [process.execPath, '--import', 'tsx', join(REPO, 'scripts/build-agent-deb.ts'), '--arch', 'sparc', '--binary', binary, '--out', out], { okCodes: [2] });
    expect(bad.stderr).toContain('no architecture "sparc"');
  });
});
