import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { buildLocalDeb, netDebPlan } from './demo-story.js';

// scripts/demo's network package, built with the real dpkg-deb and read back with it
describe("scripts/demo's network package (dpkg-deb)", () => {
  let dir: string;
  let deb: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-demo-deb-'));
    deb = await buildLocalDeb(netDebPlan(), dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is named as dpkg names it and carries the control fields ota lock checks', async () => {
    expect(deb).toBe(join(dir, 'ota-demo-net_1.0_all.deb'));
    const { stdout } = await run('dpkg-deb --field', ['dpkg-deb', '--field', deb, 'Package', 'Version', 'Architecture', 'Depends']);
    expect(stdout).toBe('Package: ota-demo-net\nVersion: 1.0\nArchitecture: all\nDepends: systemd\n');
  });

  it('is the same bytes when built again (the lock pins them)', async () => {
    const again = await buildLocalDeb(netDebPlan(), join(dir, 'again'));
    expect(await readFile(again)).toEqual(await readFile(deb));
  });

  it('installs the network file and enables systemd-networkd, all owned by root', async () => {
    const { stdout } = await run('dpkg-deb --contents', ['dpkg-deb', '--contents', deb]);
    const lines = stdout.trim().split('\n');
    expect(lines.every((l) => l.split(/\s+/)[1] === 'root/root')).toBe(true);
    expect(stdout).toMatch(/^-rw-r--r-- root\/root .* \.\/usr\/lib\/systemd\/network\/80-ota-e2e\.network$/m);
    expect(stdout).toMatch(/^lrwxrwxrwx root\/root .* \.\/usr\/lib\/systemd\/system\/multi-user\.target\.wants\/systemd-networkd\.service -> \.\.\/systemd-networkd\.service$/m);
  });
});
