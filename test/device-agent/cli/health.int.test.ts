import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../device-agent/cli/main.js';

// `ota-agent health` runs the real health runner over real scripts in temp folders (ours and
// greenboot's layout) and the real disk check of the temp dir's filesystem; the configuration is
// real files under a temp root.

let tmp: string;
let root: string;
let ours: string;
let greenboot: string;

async function agent(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  let err = '';
  const code = await main(['node', 'ota-agent', '--root', root, ...args], { out: (l) => out.push(l), err: (t) => (err += t), now: () => new Date() });
  return { code, out: out.join('\n'), err };
}

async function script(dir: string, name: string, body: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(dir, name), 0o755);
}

async function config(health: string): Promise<void> {
  await mkdir(join(root, 'etc/ota'), { recursive: true });
  await writeFile(
    join(root, 'etc/ota/agent.yaml'),
    `deviceId: gw-0001
remote: https://updates.example.com/fleet
board: qemu-arm64
arch: arm64
sysroot: ${tmp}
bootloader: { kind: uboot, envPath: ${join(tmp, 'ota.env')} }
health:
  scriptRoots: [${ours}, ${greenboot}]
  minAvailableMemoryBytes: 0
${health}`,
  );
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'agent-health-'));
  root = join(tmp, 'root');
  ours = join(tmp, 'etc/ota/health');
  greenboot = join(tmp, 'etc/greenboot/check');
  await script(join(ours, 'required.d'), '10-app', 'echo app answers');
  await script(join(greenboot, 'wanted.d'), '50-sensors', 'echo no sensor on i2c-1 >&2; exit 3');
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('ota-agent health', () => {
  it('runs every check, reports a wanted failure as a warning, and exits 0 when the required ones pass', async () => {
    await config('  minFreeDiskBytes: 1\n');
    const r = await agent('health');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    // shown as each check ends, so in no fixed order
    expect(lines.slice(0, -1).map((l) => l.split(' ').filter(Boolean).slice(0, 3).join(' ')).sort()).toEqual([
      `failed wanted ${join(greenboot, 'wanted.d/50-sensors:')}`,
      `passed required ${join(ours, 'required.d/10-app:')}`,
      `passed required disk:${tmp}:`,
    ]);
    expect(lines.at(-1)).toMatch(/^healthy: 2 of 2 required checks passed; warnings: .*50-sensors/);
    expect(r.err).toBe('');
  });

  it('exits 1 and names every failure when a required check fails; --json prints the report', async () => {
    await script(join(greenboot, 'required.d'), '20-db', 'echo database down; exit 1');
    // more free space than any disk has: the real disk check fails too
    await config(`  minFreeDiskBytes: ${Number.MAX_SAFE_INTEGER}\n`);
    try {
      const r = await agent('health', '--json');
      expect(r.code).toBe(1);
      // with --json the checks go to stderr as they end, the report alone to stdout
      expect(r.err.trim().split('\n')).toHaveLength(4);
      const report = JSON.parse(r.out) as { ok: boolean; deadlineHit: boolean; required: { name: string; status: string }[]; wanted: { name: string; status: string }[] };
      expect(report.ok).toBe(false);
      expect(report.deadlineHit).toBe(false);
      expect(report.required.map((c) => [c.name, c.status])).toEqual([
        [join(ours, 'required.d/10-app'), 'passed'],
        [join(greenboot, 'required.d/20-db'), 'failed'],
        [`disk:${tmp}`, 'failed'],
      ]);
      expect(report.wanted.map((c) => [c.name, c.status])).toEqual([[join(greenboot, 'wanted.d/50-sensors'), 'failed']]);
    } finally {
      await rm(join(greenboot, 'required.d/20-db'));
    }
  });

  it('a bad health configuration is a usage error with its file and line', async () => {
    await config('  deadlineSecond: 10\n');
    const r = await agent('health');
    expect(r.code).toBe(2);
    expect(r.err).toContain(`unknown key "deadlineSecond" at health (${join(root, 'etc/ota/agent.yaml')}:10); did you mean "deadlineSeconds"?`);
  });
});
