import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHealthRunner } from '../../../device-agent/health/runner.js';
import { BUILT_IN_DEFAULTS, healthConfigSchema, type HealthConfig } from '../../../device-agent/config/schema.js';
import type { CheckResult } from '../../../device-agent/health/report.js';
import { ended, readPid, writeScript } from '../../helpers/processes.js';

// Real scripts in temp folders, real statfs and /proc/meminfo. systemd does not run here, so unit
// checks talk to a stand-in `systemctl` on PATH (a fake at the process boundary) that answers
// is-active from a folder of unit states. A hung script never ends by itself: the timeouts below
// separate it from one that ends, they measure nothing.
describe('health runner', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-health-'));
    for (const d of ['ota/required.d', 'ota/wanted.d', 'greenboot/required.d', 'greenboot/wanted.d', 'bin', 'units']) await mkdir(join(root, d), { recursive: true });
    await writeScript(
      join(root, 'bin/systemctl'),
      `echo "$*" >> ${root}/systemctl.calls\n[ "$1" = is-active ] && [ "$2" = -- ] || exit 64\nstate=$(cat "${root}/units/$3" 2>/dev/null || echo inactive)\n[ "$state" = hang ] && exec sleep 1000\necho "$state"\n[ "$state" = active ]\n`,
    );
    env = { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH}` };
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const config = (over: Record<string, unknown> = {}): HealthConfig =>
    healthConfigSchema.parse({ ...BUILT_IN_DEFAULTS.health, scriptRoots: [join(root, 'ota'), join(root, 'greenboot')], minFreeDiskBytes: 0, minAvailableMemoryBytes: 0, ...over });
  const byName = (rs: CheckResult[]) => Object.fromEntries(rs.map((r) => [r.name.replace(`${root}/`, ''), [r.status, r.detail]]));

  it('passes when every required check passes', async () => {
    await writeScript(join(root, 'ota/required.d/10-ok'), 'echo all good\n');
    await writeFile(join(root, 'greenboot/required.d/20-ok.sh'), '[ -n "$BASH_VERSION" ] || exit 9\n'); // not executable: greenboot's run with bash
    await writeFile(join(root, 'units/app.service'), 'active\n');
    const report = await createHealthRunner(config({ requiredUnits: ['app.service'] }), { env }).run();
    expect(report).toMatchObject({ ok: true, deadlineHit: false, wanted: [] });
    expect(byName(report.required)).toEqual({
      'unit:app.service': ['passed', 'active'],
      'ota/required.d/10-ok': ['passed', 'all good'],
      'greenboot/required.d/20-ok.sh': ['passed', 'exit 0'],
    });
  });

  it('runs every check and reports every failure, not only the first; a wanted failure only warns', async () => {
    await writeScript(join(root, 'ota/required.d/10-net'), 'echo "no route to gateway" >&2\nexit 3\n');
    await writeScript(join(root, 'ota/required.d/20-app'), 'echo fine\n');
    await writeFile(join(root, 'ota/required.d/30-forgot-chmod'), 'exit 0\n');
    await writeFile(join(root, 'greenboot/required.d/40-db.sh'), 'echo "db down"; exit 1\n');
    await writeScript(join(root, 'ota/wanted.d/50-ntp'), 'echo "clock not synced" >&2; exit 1\n');
    await writeFile(join(root, 'units/app.service'), 'failed\n');
    await writeFile(join(root, 'units/extra.service'), 'active\n');
    const report = await createHealthRunner(config({ requiredUnits: ['app.service'], wantedUnits: ['extra.service'] }), { env }).run();
    expect(report.ok).toBe(false);
    expect(byName(report.required)).toEqual({
      'unit:app.service': ['failed', 'failed'],
      'ota/required.d/10-net': ['failed', 'exited with 3: no route to gateway'],
      'ota/required.d/20-app': ['passed', 'fine'],
      'ota/required.d/30-forgot-chmod': ['failed', expect.stringContaining('not executable')],
      'greenboot/required.d/40-db.sh': ['failed', 'exited with 1: db down'],
    });
    expect(byName(report.wanted)).toEqual({ 'unit:extra.service': ['passed', 'active'], 'ota/wanted.d/50-ntp': ['failed', 'exited with 1: clock not synced'] });

    await rm(join(root, 'ota/required.d'), { recursive: true });
    await rm(join(root, 'greenboot/required.d'), { recursive: true });
    const warnOnly = await createHealthRunner(config(), { env }).run();
    expect(warnOnly).toMatchObject({ ok: true, required: [], wanted: [{ status: 'failed' }] });
  });

  it('ends a check at its timeout, its children too, while the other checks still run', async () => {
    const pidFile = join(root, 'child.pid');
    await writeScript(join(root, 'ota/required.d/10-hang'), `trap "" TERM\nsleep 1000 &\necho $! > ${pidFile}\nwait\n`);
    await writeScript(join(root, 'ota/required.d/20-ok'), 'exit 0\n');
    await writeFile(join(root, 'units/stuck.service'), 'hang\n');
    const seen: string[] = [];
    const runner = createHealthRunner(config({ checkTimeoutSeconds: 1, wantedUnits: ['stuck.service'] }), {
      env,
      killGraceMs: 500,
      parallelChecks: 1,
      onCheck: (r) => seen.push(r.name),
    });
    const report = await runner.run();
    expect(report).toMatchObject({ ok: false, deadlineHit: false });
    expect(report.required.map((r) => r.status)).toEqual(['timedOut', 'passed']);
    expect(report.required[0]!.detail).toMatch(/^timed out after 1 s \(ended with SIGKILL\)$/);
    expect(report.wanted).toMatchObject([{ name: 'unit:stuck.service', status: 'timedOut' }]);
    expect(seen.sort()).toEqual([...report.required, ...report.wanted].map((r) => r.name).sort());
    expect(await ended(await readPid(pidFile))).toBe(true);
  });

  it('returns at the deadline though a check hangs: what runs is killed, what waits is not run', async () => {
    const pidFile = join(root, 'hang.pid');
    await writeScript(join(root, 'ota/required.d/10-hang'), `trap "" TERM\necho $$ > ${pidFile}\nexec sleep 1000\n`);
    await writeScript(join(root, 'ota/required.d/20-never'), 'exit 0\n');
    await writeScript(join(root, 'ota/wanted.d/30-never'), 'exit 0\n');
    const report = await createHealthRunner(config({ checkTimeoutSeconds: 3600, deadlineSeconds: 1 }), { env, parallelChecks: 1 }).run();
    expect(report).toMatchObject({ ok: false, deadlineHit: true });
    expect(byName([...report.required, ...report.wanted])).toEqual({
      'ota/required.d/10-hang': ['timedOut', expect.stringContaining('health deadline')],
      'ota/required.d/20-never': ['notRun', 'the health deadline passed before it ran'],
      'ota/wanted.d/30-never': ['notRun', 'the health deadline passed before it ran'],
    });
    expect(await ended(await readPid(pidFile))).toBe(true);
  });

  it('returns when a check exits but a child it forked keeps the output pipe open', async () => {
    const pidFile = join(root, 'bg.pid');
    await writeScript(join(root, 'ota/required.d/10-bg'), `sleep 1000 &\necho $! > ${pidFile}\necho started\n`);
    const report = await createHealthRunner(config(), { env }).run();
    expect(byName(report.required)).toEqual({ 'ota/required.d/10-bg': ['passed', 'started'] });
    expect(await ended(await readPid(pidFile))).toBe(true);
  });

  it('fails unit checks when systemctl cannot run, naming it', async () => {
    const noSystemctl = { ...env, PATH: join(root, 'empty') };
    const report = await createHealthRunner(config({ requiredUnits: ['app.service'] }), { env: noSystemctl }).run();
    expect(report.required).toMatchObject([{ status: 'failed', detail: expect.stringMatching(/^cannot run systemctl: .*ENOENT/) }]);
  });

  it('compares free disk (statfs on the sysroot) and available memory (/proc/meminfo) with their thresholds', async () => {
    const huge = Number.MAX_SAFE_INTEGER;
    const roomy = await createHealthRunner(config({ minFreeDiskBytes: 1, minAvailableMemoryBytes: 1 }), { env, diskPath: root }).run();
    expect(roomy.ok).toBe(true);
    expect(roomy.required.map((r) => [r.name, r.status])).toEqual([[`disk:${root}`, 'passed'], ['memory', 'passed']]);
    expect(roomy.required[0]!.detail).toMatch(new RegExp(` free on ${root}, at least 1 B asked$`));

    const full = await createHealthRunner(config({ minFreeDiskBytes: huge, minAvailableMemoryBytes: huge }), { env, diskPath: root }).run();
    expect(full.ok).toBe(false);
    expect(full.required).toMatchObject([
      { kind: 'disk', status: 'failed' },
      { kind: 'memory', status: 'failed', detail: expect.stringMatching(/available, at least/) },
    ]);

    const gone = await createHealthRunner(config({ minFreeDiskBytes: 1 }), { env, diskPath: join(root, 'missing') }).run();
    expect(gone.required).toMatchObject([{ kind: 'disk', status: 'failed', detail: expect.stringMatching(/ENOENT/) }]);
  });

  it('fails the checks of a folder it cannot read', async () => {
    // a file where the folder should be: readdir fails for root too (a chmod 000 folder would not)
    await rm(join(root, 'ota/wanted.d'), { recursive: true });
    await writeFile(join(root, 'ota/wanted.d'), 'not a folder\n');
    const report = await createHealthRunner(config(), { env }).run();
    expect(report).toMatchObject({ ok: true, wanted: [{ status: 'failed', detail: expect.stringMatching(/^cannot read the folder: ENOTDIR/) }] });
  });
});
