import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleet, makeDevice, removeDevices, type Fleet } from './device.js';
import { bootedCommit, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// A release the device rolled back from is not tried again at every poll
// (docs/agent.md, "Skipped releases"), through the real `ota-agent` process with the stand-ins:
// 1.1 fails its required check and rolls back; `upgrade --check`, `upgrade` and the daemon's poll then
// leave it be; 1.2, published later, is applied as usual, its failed wanted check only a warning.

let tmp: string;
let f: Fleet;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-skipped-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('a release rolled back from is skipped (stand-in reboot and stand-in boot)', () => {
  it('1.1 unhealthy: upgrade --check exits 77, upgrade and the poll start nothing; 1.2 is then applied', async () => {
    const broken = join(tmp, 'app-broken');
    await writeFile(broken, '');
    const d = await makeDevice(f, {
      dir: join(tmp, 'device'),
      checks: {
        required: { '50-app': `#!/bin/sh\nif [ -e '${broken}' ]; then echo "app: no answer" >&2; exit 1; fi\n` },
        // Only a warning, in the journal and in status, when 1.2 commits.
        wanted: { '60-sensors': '#!/bin/sh\necho "no sensor on i2c-1" >&2\nexit 3\n' },
      },
    });
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    expect((await otaAgent(d, 'upgrade')).code).toBe(0);
    expect((await standInBoot(d)).entry.commit).toBe(B);
    expect((await otaAgent(d, 'daemon', '--once')).code).toBe(0);
    expect((await standInBoot(d)).entry.commit).toBe(A);
    expect((await otaAgent(d, 'daemon', '--once')).code).toBe(0);
    const rolledBack = await record(d);
    expect(rolledBack.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy', toCommit: B });
    expect(rolledBack.skippedReleases).toMatchObject([{ commit: B, version: '1.1', reason: 'unhealthy' }]);

    const check = await otaAgent(d, 'upgrade', '--check');
    expect(check.code, check.stderr).toBe(77);
    expect(check.stdout).toMatch(/up to date: .* 1\.1 \(.{12}\) skipped: rolled back from at .* \(unhealthy\)/);
    const upgrade = await otaAgent(d, 'upgrade');
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(upgrade.stdout).toContain('skipped');
    // The daemon's poll (polling on, as a drop-in says) starts no update either, and says why once.
    await mkdir(join(d.root, 'etc/ota/agent.d'), { recursive: true });
    await writeFile(join(d.root, 'etc/ota/agent.d/50-poll.yaml'), 'pollIntervalSeconds: 3600\n');
    f.server.requests.length = 0;
    const poll = await otaAgent(d, 'daemon', '--once');
    expect(poll.code, poll.stderr).toBe(0);
    expect(poll.stderr.split('\n').filter((l) => l.includes('skipped'))).toHaveLength(1);
    // The group's rollout first (there is none), then the release: not one object, delta part or superblock.
    expect(f.server.requests.map((r) => r.path)).toEqual(['/groups/lab/rollout.jws', '/groups/lab/release.jws']);
    // The last result still tells of the rollback; nothing was downloaded, armed or deployed.
    expect(await record(d)).toEqual(rolledBack);
    expect(await rebootRequests(d)).toBe(0);
    expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
    const status = await otaAgent(d, 'status');
    expect(status.stdout).toMatch(/skipped releases[^\n]*\n {2}1\.1 [0-9a-f]{64}: unhealthy at /);

    // A newer release (another commit) is tried as usual.
    await rm(broken);
    const C = (await f.publish('1.2')).commit;
    const next = await otaAgent(d, 'upgrade');
    expect(next.code, next.stderr).toBe(0);
    expect((await standInBoot(d)).entry.commit).toBe(C);
    const commit = await otaAgent(d, 'daemon', '--once');
    expect(commit.code).toBe(0);
    expect(commit.stderr).toMatch(/^<4>.*healthy: warning: wanted checks failed: .*60-sensors failed: .*no sensor on i2c-1$/m);
    expect((await otaAgent(d, 'status')).stdout).toMatch(/^ {2}warning: wanted checks failed: .*60-sensors/m);
    const r = await record(d);
    expect(r.lastResult).toMatchObject({ result: 'committed', version: '1.2', fromCommit: A, toCommit: C });
    expect(r.lastResult!.log.map((e) => `${e.state}:${e.event}`)).toEqual([...CHAINS.toReboot, ...CHAINS.commit]);
    expect(r.skippedReleases.map((s) => s.commit)).toEqual([B]);
    expect(await bootedCommit(d)).toBe(C);
  });
});
