import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armForUpgrade, bootStateToVars, initialBootState } from '../../../bootloader/index.js';
import { writeGrubEnv } from '../../../bootloader/grub/env.js';
import { writeUbootEnvText } from '../../../bootloader/uboot/env-text.js';
import { run } from '../../../common/exec.js';
import { parseDocument } from '../../../contract/index.js';
import { main } from '../../../device-agent/cli/main.js';
import { applyTransition, beginUpdate, initialRecord } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { ostree, removeTree } from '../../helpers/ostree-cli.js';

// `ota-agent status` against a real sysroot in a temp dir: two deployments made by `ostree admin
// deploy` from commits with versions, a real ota.env for the U-Boot backend, and the agent's
// configuration as real files under a temp root. `ostree admin status` is the reference.

const NOW = new Date('2026-03-01T12:00:00.000Z');
let tmp: string;
let root: string;
let sysroot: string;
let envPath: string;
const commits: { version: string; checksum: string }[] = [];

async function agent(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  let err = '';
  const code = await main(['node', 'ota-agent', '--root', root, ...args], { out: (l) => out.push(l), err: (t) => (err += t), now: () => NOW });
  return { code, out: out.join('\n'), err };
}

/** `ostree admin status` as [checksum.serial, Version] in boot order. */
async function adminStatus(): Promise<{ id: string; version: string | undefined }[]> {
  const text = await ostree(['admin', 'status', `--sysroot=${sysroot}`]);
  const out: { id: string; version: string | undefined }[] = [];
  for (const line of text.split('\n')) {
    const m = /^[* ] \S+ ([0-9a-f]{64}\.\d+)/.exec(line);
    if (m) out.push({ id: m[1]!, version: undefined });
    const v = /^\s+Version: (\S+)/.exec(line);
    if (v && out.length > 0) out.at(-1)!.version = v[1];
  }
  return out;
}

async function writeConfig(extra = ''): Promise<void> {
  await mkdir(join(root, 'etc/ota'), { recursive: true });
  await writeFile(
    join(root, 'etc/ota/agent.yaml'),
    `deviceId: gw-0001
remote: https://updates.example.com/fleet
board: qemu-arm64
arch: arm64
sysroot: ${sysroot}
stateDir: ${join(tmp, 'state')}
bootloader:
  kind: uboot
  envPath: ${envPath}
${extra}`,
  );
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'agent-status-'));
  root = join(tmp, 'root');
  sysroot = join(tmp, 'sysroot');
  envPath = join(tmp, 'boot/ota.env');
  const tree = join(tmp, 'tree');
  await mkdir(join(tree, 'usr/lib/modules/6.1.0-test'), { recursive: true });
  await mkdir(join(tree, 'usr/etc'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/os-release'), 'ID=debian\n');
  await mkdir(sysroot);
  await ostree(['admin', 'init-fs', sysroot]);
  await ostree(['admin', 'os-init', `--sysroot=${sysroot}`, 'debian']);
  const repo = `--repo=${join(sysroot, 'ostree/repo')}`;
  for (const version of ['1.0', '1.1']) {
    await writeFile(join(tree, 'usr/lib/modules/6.1.0-test/vmlinuz'), `kernel of ${version}\n`);
    const checksum = (await ostree([repo, 'commit', '-b', 'gateway/stable', `--tree=dir=${tree}`, `--add-metadata-string=version=${version}`, '--timestamp=2026-01-01T00:00:00Z'])).trim();
    commits.push({ version, checksum });
    await ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=debian', '--karg=root=LABEL=root', 'gateway/stable']);
  }
  await mkdir(join(tmp, 'boot'));
  await writeUbootEnvText(envPath, bootStateToVars(armForUpgrade(initialBootState(3))));
  await writeConfig();
});

afterAll(async () => {
  await removeTree(tmp);
});

describe('ota-agent status', () => {
  it("--json prints the contract's status document with both deployments, as ostree admin status has them", async () => {
    const r = await agent('status', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const status = parseDocument('Status', r.out);
    const reference = await adminStatus();
    // 1.1 was deployed last: OSTree's default (what boots next), 1.0 behind it (what the bootloader falls back to).
    expect(reference.map((d) => d.version)).toEqual(['1.1', '1.0']);
    expect(reference.map((d) => d.id.split('.')[0])).toEqual([commits[1]!.checksum, commits[0]!.checksum]);
    expect(status).toEqual({
      apiVersion: 'deb-ota/v1',
      kind: 'Status',
      device: 'gw-0001',
      group: 'default',
      agentVersion: expect.stringMatching(/^\d+\.\d+\.\d+/),
      updatedAt: NOW.toISOString(),
      deployments: {
        booted: null,
        staged: { version: '1.1', commit: commits[1]!.checksum },
        rollback: { version: '1.0', commit: commits[0]!.checksum },
      },
      phase: 'idle',
      updateId: null,
      progress: null,
      lastError: null,
    });
  });

  it('prints the deployments in boot order and the bootloader state for a person', async () => {
    const r = await agent('status');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^device gw-0001 \(ota-agent \d+\.\d+\.\d+\S*\)$/);
    expect(lines.slice(1)).toEqual([
      'deployments (boot order):',
      `  0 debian ${commits[1]!.checksum}.0 (pending)`,
      '      version 1.1',
      `  1 debian ${commits[0]!.checksum}.0`,
      '      version 1.0',
      `bootloader uboot (${envPath}): next boot entry 0, bootcount 0/3, upgrade armed, no rollback flag`,
      'update: none (idle)',
    ]);
  });

  it("reads GRUB's grubenv when the configuration names GRUB: a fallback shows as the rollback flag", async () => {
    const grubenv = join(tmp, 'boot/grubenv');
    await writeGrubEnv(grubenv, new Map(bootStateToVars({ bootcount: 3, upgradeAvailable: true, rollback: true, bootlimit: 3 })));
    await mkdir(join(root, 'etc/ota/agent.d'), { recursive: true });
    await writeFile(
      join(root, 'etc/ota/agent.d/60-grub.yaml'),
      `bootloader:\n  kind: grub\n  envPath: ${grubenv}\n  configPath: ${join(tmp, 'boot/grub.cfg')}\n  envLocation: { label: ESP, path: /EFI/ota/grubenv }\n  bootLocation: { path: /boot }\n`,
    );
    try {
      const lines = (await agent('status')).out.split('\n');
      // The boot counter ran out: with the rollback flag set, the next boot takes entry 1, the previous deployment.
      expect(lines.find((l) => l.startsWith('bootloader '))).toBe(`bootloader grub (${grubenv}): next boot entry 1, bootcount 3/3, upgrade armed, rollback flag set`);
    } finally {
      await rm(join(root, 'etc/ota/agent.d/60-grub.yaml'));
    }
  });

  it('still shows the deployments when the boot counter cannot be read, and says why', async () => {
    const missing = join(tmp, 'boot/missing.env');
    await mkdir(join(root, 'etc/ota/agent.d'), { recursive: true });
    await writeFile(join(root, 'etc/ota/agent.d/90-env.yaml'), `bootloader: { kind: uboot, envPath: ${missing} }\n`);
    try {
      const r = await agent('status');
      expect(r.code).toBe(0);
      const lines = r.out.split('\n');
      expect(lines.filter((l) => l.includes(' debian '))).toHaveLength(2);
      expect(lines.find((l) => l.startsWith('bootloader '))).toMatch(new RegExp(`^bootloader uboot \\(${missing}\\): unreadable: .*${missing}`));
      expect(parseDocument('Status', (await agent('status', '--json')).out).deployments.staged?.commit).toBe(commits[1]!.checksum);
    } finally {
      await rm(join(root, 'etc/ota/agent.d/90-env.yaml'));
    }
  });

  it("reads the engine's state record: the update in progress, its phase and id", async () => {
    const store = new StateStore({ dir: join(tmp, 'state') });
    const at = new Date('2026-03-01T11:00:00.000Z');
    let record = beginUpdate(initialRecord(), { id: 'release-1.2', at });
    record = applyTransition(record, { event: 'updateAvailable', to: 'downloading', at, patch: { version: '1.2' } });
    await store.save(record, at);
    try {
      const doc = parseDocument('Status', (await agent('status', '--json')).out);
      expect(doc).toMatchObject({ phase: 'downloading', updateId: 'release-1.2', lastError: null });
      const text = (await agent('status')).out.split('\n');
      expect(text.at(-1)).toBe("update: release-1.2 (1.2), upgrade to the group's release, state downloading, attempt 1, since 2026-03-01T11:00:00.000Z");
    } finally {
      await rm(store.path);
    }
  });

  it("shows the download's progress from <stateDir>/progress.json; a missing or malformed file is no progress", async () => {
    const store = new StateStore({ dir: join(tmp, 'state') });
    const at = new Date('2026-03-01T11:00:00.000Z');
    await store.save(applyTransition(beginUpdate(initialRecord(), { id: 'release-1.2', at }), { event: 'updateAvailable', to: 'downloading', at, patch: { version: '1.2' } }), at);
    const file = join(tmp, 'state/progress.json');
    try {
      expect(parseDocument('Status', (await agent('status', '--json')).out).progress).toBeNull();
      await writeFile(file, JSON.stringify({ updateId: 'release-1.2', doneBytes: 1536, totalBytes: 3 * 1024 * 1024, at: at.toISOString() }));
      expect(parseDocument('Status', (await agent('status', '--json')).out).progress).toEqual({ doneBytes: 1536, totalBytes: 3 * 1024 * 1024 });
      expect((await agent('status')).out.split('\n').at(-1)).toBe('  downloaded 1.5 KiB of 3.0 MiB');
      await writeFile(file, '{"updateId": "release-1.2", "doneBy');
      const r = await agent('status', '--json');
      expect(r.code).toBe(0);
      expect(parseDocument('Status', r.out)).toMatchObject({ phase: 'downloading', progress: null });
    } finally {
      await rm(file, { force: true });
      await rm(store.path);
    }
  });

  it("shows as booted the deployment the kernel command line's ostree= names, as the agent finds what runs", async () => {
    const dir = join(sysroot, 'boot/loader/entries');
    const entries = await Promise.all((await readdir(dir)).map(async (f) => readFile(join(dir, f), 'utf8')));
    // ostree names entries so the default sorts last; its `version` line is the reverse of the boot order.
    const [second] = entries.sort((a, b) => Number(/^version (\d+)/m.exec(a)![1]) - Number(/^version (\d+)/m.exec(b)![1]));
    const cmdline = join(tmp, 'cmdline');
    await mkdir(join(root, 'etc/ota/agent.d'), { recursive: true });
    await writeFile(join(root, 'etc/ota/agent.d/70-cmdline.yaml'), `kernelCommandLine: ${cmdline}\n`);
    try {
      // Entry 1 (1.0) booted, as after a bootloader fallback: the default 1.1 is pending, nothing after 1.0.
      await writeFile(cmdline, `${/^options (.*)$/m.exec(second!)![1]}\n`);
      expect(parseDocument('Status', (await agent('status', '--json')).out).deployments).toEqual({
        booted: { version: '1.0', commit: commits[0]!.checksum },
        staged: { version: '1.1', commit: commits[1]!.checksum },
        rollback: null,
      });
      expect((await agent('status')).out.split('\n')).toContain(`* 1 debian ${commits[0]!.checksum}.0 (booted)`);
      // An ostree= that leads to no deployment is said, and the rest still shown.
      await writeFile(cmdline, 'root=LABEL=root ostree=/ostree/boot.9/debian/nothing/0\n');
      const r = await agent('status');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^booted deployment unknown: ostree=\/ostree\/boot\.9\/debian\/nothing\/0 names no deployment/m);
      expect(parseDocument('Status', (await agent('status', '--json')).out).deployments.booted).toBeNull();
    } finally {
      await rm(join(root, 'etc/ota/agent.d/70-cmdline.yaml'));
    }
  });

  it('an unreadable state record is phase failed with ERR_OTA_STATE; the deployments are still shown', async () => {
    const path = join(tmp, 'state/state.json');
    await mkdir(join(tmp, 'state'), { recursive: true });
    await writeFile(path, '{"apiVersion": "deb-ota/v1", "kind": "AgentState", "state": "dancing"');
    try {
      const r = await agent('status', '--json');
      expect(r.code).toBe(0);
      const doc = parseDocument('Status', r.out);
      expect(doc.phase).toBe('failed');
      expect(doc.lastError).toMatchObject({ code: 'ERR_OTA_STATE', message: expect.stringContaining(path) });
      expect(doc.deployments.staged?.commit).toBe(commits[1]!.checksum);
    } finally {
      await rm(path);
    }
  });

  it('refuses a sysroot path that holds no sysroot, and creates nothing there', async () => {
    const nowhere = join(tmp, 'not-a-sysroot');
    await mkdir(join(root, 'etc/ota/agent.d'), { recursive: true });
    await writeFile(join(root, 'etc/ota/agent.d/90-wrong.yaml'), `sysroot: ${nowhere}\n`);
    try {
      const r = await agent('status', '--json');
      expect(r.code).toBe(1);
      expect(JSON.parse(r.out)).toMatchObject({ error: { code: 'ERR_OTA_OSTREE', message: `${nowhere} is not an OSTree sysroot: ${nowhere}/ostree/repo/config is missing` } });
      await expect(rm(nowhere)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(join(root, 'etc/ota/agent.d/90-wrong.yaml'));
    }
  });

  it('reports a configuration error with its file and line, exit code 2, as a separate process', async () => {
    await writeFile(join(root, 'etc/ota/agent.d/50-typo.yaml'), 'policy:\n  rebot: manual\n');
    try {
      const r = await run('ota-agent status', ['node', '--import', 'tsx', 'test/helpers/ota-agent-cli.ts', '--root', root, 'status'], { okCodes: [2] });
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`error: unknown key "rebot" at policy (${join(root, 'etc/ota/agent.d/50-typo.yaml')}:2); did you mean "reboot"?`);
    } finally {
      await rm(join(root, 'etc/ota/agent.d/50-typo.yaml'));
    }
  });
});
