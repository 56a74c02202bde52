import { readdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticDeltaPath } from '../../../node-ostree/index.js';
import { partialReaches } from '../update/harness.js';
import { fleet, makeDevice, removeDevices, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, record, startOtaAgent } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// A download cut mid-way: the static server stops sending a delta part after 50,000 bytes, the
// agent is SIGKILLed there, and the next start resumes the part with a Range request from the cut.

const CUT = 50_000;
let tmp: string;
let f: Fleet;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-resume-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('a download cut mid-way resumes', () => {
  it('the agent SIGKILLed after the cut; daemon --once resumes from the cut with a Range request, then commits', async () => {
    const d = await makeDevice(f, { dir: join(tmp, 'device') });
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    const part = `/repo/${staticDeltaPath(A, B)}/0`;
    const partSize = (await stat(join(f.publisher.pub, part))).size;
    expect(partSize).toBeGreaterThan(CUT);
    f.server.requests.length = 0;

    const cutter = f.server.cutOnce(part, CUT);
    const upgrade = await startOtaAgent(d, 'upgrade');
    await partialReaches(join(d.stateDir, 'download', B, '0'), CUT);
    upgrade.kill('SIGKILL');
    expect((await upgrade.exited).signal).toBe('SIGKILL');
    cutter.drop();
    expect((await record(d)).state).toBe('downloading');

    const resumed = await otaAgent(d, 'daemon', '--once');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await record(d)).state).toBe('awaitingReboot');
    const partRequests = f.server.requests.filter((q) => q.path === part);
    expect(partRequests.map((q) => [q.range, q.sent])).toEqual([
      [undefined, CUT],
      [`bytes=${CUT}-`, partSize - CUT],
    ]);
    // The parts wait in the download directory only until the delta is applied.
    expect(await readdir(join(d.stateDir, 'download')).catch(() => [])).toEqual([]);

    expect((await standInBoot(d)).entry.commit).toBe(B);
    expect((await otaAgent(d, 'daemon', '--once')).code).toBe(0);
    const r = await record(d);
    expect(r.lastResult).toMatchObject({ result: 'committed', fromCommit: A, toCommit: B });
    const [check, download, ...rest] = CHAINS.toReboot;
    expect(chain(r.lastResult!.log)).toEqual([check, download, 'downloading:resume', ...rest, ...CHAINS.commit]);
    expect(await bootedCommit(d)).toBe(B);
    expect(await adminStatus(d)).toEqual([B, A]);
    expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
  });
});
