import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOP_ROLLBACK_SAVES, MAX_LOG_ENTRIES, MAX_STATE_SAVES } from '../../../device-agent/engine/record.js';
import type { State } from '../../../device-agent/engine/states.js';
import { bundledChild } from '../../helpers/bundled-child.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { BOOTLIMIT, fleet, makeDevice, removeDevices, type Device, type DeviceOptions, type Fleet } from './device.js';
import { expectedChain, runToRest as runAgentToRest } from './crash-run.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// Crash tests through the whole agent (openAgent from the device's configuration, real downloads
// from the static server, a real sysroot and U-Boot env): the agent process SIGKILLs itself right
// after save N of the record, for every N of a full update and of one whose checks fail, and is
// started again (after a stand-in boot when it asked for a reboot) until it rests; likewise after
// the work of each state and before the record says so (a power cut between a side effect and its
// record); and killed after every save, until the loop breaker ends the update. Each run asserts
// the exact chain, the booted commit (the new one or the old one, never a third) and that
// `ostree admin status` agrees.

/** The child, bundled once (test/helpers/bundled-child.ts): these tests start it some 200 times. */
let child: string;
const FAILING_CHECK = { required: { '50-app': '#!/bin/sh\necho "app: no answer" >&2\nexit 1\n' } };

let tmp: string;
let f: Fleet;
const runToRest = (d: Device, maxRuns: number, first: 'check' | 'resume' = 'check') => runAgentToRest(child, d, { maxRuns, first });
let n = 0;

beforeAll(async () => {
  child = await bundledChild(join(import.meta.dirname, 'crash-agent.ts'));
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-crash-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

interface Variant {
  name: string;
  options: Omit<DeviceOptions, 'dir'>;
  /** The result and reason when nothing interrupted the deploy. */
  result: 'committed' | 'rolled-back';
  reason: string | null;
}

const VARIANTS: Variant[] = [
  { name: 'a full update', options: {}, result: 'committed', reason: null },
  { name: 'an update whose required check fails', options: { checks: FAILING_CHECK }, result: 'rolled-back', reason: 'unhealthy' },
];

async function crashDevice(options: Omit<DeviceOptions, 'dir'>, killAt: string): Promise<Device> {
  const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), ...options });
  await writeFile(join(d.dir, 'kill-at'), killAt);
  return d;
}

/** The device at rest after the update ended `result`: the booted commit, OSTree's list, the bootloader's flags. */
async function expectAtRest(d: Device, result: string, label: string): Promise<void> {
  const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
  const committed = result === 'committed';
  expect(await bootedCommit(d), label).toBe(committed ? B : A);
  expect(await adminStatus(d), label).toEqual(committed ? [B, A] : [A]);
  expect(await d.backend.getState(), label).toEqual(IDLE_BOOT_STATE);
  // And it boots what it runs.
  expect((await standInBoot(d)).entry.commit, label).toBe(committed ? B : A);
}

describe('the whole agent SIGKILLed at each save and between each side effect and its save (real downloads, real sysroot, stand-in reboot and boot)', () => {
  for (const [v, when] of VARIANTS.flatMap((v) => [[v, 'save'], [v, 'work']] as const)) {
    const what = when === 'save' ? 'after save N' : "after the Nth state's work, before its save";
    it(`${v.name}: killed once ${what}, for every N, ends with the exact chain`, async () => {
      const clean = await crashDevice(v.options, '');
      expect(await runToRest(clean, 10)).toEqual({ kills: 0 });
      const cleanRecord = (await record(clean)).lastResult!;
      expect(cleanRecord).toMatchObject({ result: v.result, reason: v.reason });
      const cleanLog = chain(cleanRecord.log);
      await expectAtRest(clean, v.result, 'clean');
      // Every save but the last (idle: nothing left to resume); every state's work.
      const points = Number(await readFile(join(clean.dir, when === 'save' ? 'saves' : 'works'), 'utf8')) - (when === 'save' ? 1 : 0);
      await removeTree(clean.dir);

      for (let k = 1; k <= points; k++) {
        const d = await crashDevice(v.options, when === 'save' ? String(k) : `work:${k}`);
        expect(await runToRest(d, 12), `killed ${what}, N = ${k}`).toEqual({ kills: 1 });
        const [state, at] = (await readFile(join(d.dir, 'killed-in'), 'utf8')).split(' ') as [State, string];
        const label = `killed ${what}, N = ${k} (${state}, ${at} log entries)`;
        const last = (await record(d)).lastResult!;
        const expected = expectedChain(cleanLog, state, Number(at), when === 'work');
        expect(chain(last.log), label).toEqual(expected);
        const interrupted = expected.includes('rollingBack:interrupted');
        expect(last, label).toMatchObject(interrupted ? { result: 'rolled-back', reason: 'interrupted' } : { result: v.result, reason: v.reason });
        await expectAtRest(d, last.result, label);
        await removeTree(d.dir);
      }
    });
  }

  it('killed after every save: the loop breaker rolls back, then gives up with a failed result; 1.0 still runs', async () => {
    const d = await crashDevice({}, 'every');
    const saves = MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES + 1;
    expect(await runToRest(d, saves + 1)).toEqual({ kills: saves });
    const last = (await record(d)).lastResult!;
    expect(last).toMatchObject({ result: 'failed', reason: expect.stringMatching(/^state-loop/) });
    // Every start resumed and was killed before any handler ran: the update never left checking.
    expect(chain(last.log)).toEqual([
      'checking:begin',
      ...Array<string>(MAX_STATE_SAVES).fill('checking:resume'),
      'rollingBack:stateLoop',
      ...Array<string>(LOOP_ROLLBACK_SAVES).fill('rollingBack:resume'),
    ]);
    await expectAtRest(d, 'failed', 'killed after every save');
  });

  it("the new deployment's agent killed after every save: the loop breaker gives up, the bootloader falls back to 1.0, the agent repairs", async () => {
    const d = await crashDevice({}, 'on-update');
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    await runToRest(d, MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES + 2);
    const last = (await record(d)).lastResult!;
    expect(last).toMatchObject({ result: 'failed', reason: expect.stringMatching(/^state-loop/) });
    // From the boot into 1.1 on, every start resumed and died before any handler ran.
    const onB = MAX_STATE_SAVES - CHAINS.toReboot.length;
    const full = [...CHAINS.toReboot, 'awaitingReboot:resume', 'verifying:booted', ...Array<string>(onB).fill('verifying:resume'), 'rollingBack:stateLoop', ...Array<string>(LOOP_ROLLBACK_SAVES).fill('rollingBack:resume')];
    expect(chain(last.log)).toEqual(full.slice(-MAX_LOG_ENTRIES));
    // Still on 1.1 with the counter armed, one boot counted: nothing reboots a device whose agent only crashes.
    expect(await bootedCommit(d)).toBe(B);
    expect(await d.backend.getState()).toEqual({ ...IDLE_BOOT_STATE, upgradeAvailable: true, bootcount: 1 });
    // Whatever reboots it next (a person, a watchdog), the counter runs out and 1.0 boots, where the agent rests.
    const boots = [];
    for (let i = 1; i < BOOTLIMIT + 1; i++) boots.push((await standInBoot(d)).entry.commit);
    expect(boots).toEqual([B, B, A]);
    expect(await bootedCommit(d)).toBe(A);
    expect(await d.backend.getState()).toEqual({ ...IDLE_BOOT_STATE, bootcount: BOOTLIMIT + 1, rollback: true });
    // On that start the idle agent repairs (docs/agent.md, "Repair on start"): 1.1 removed, 1.0 the default,
    // the flags cleared, and the result says why.
    expect(await runToRest(d, 1, 'resume')).toEqual({ kills: 0 });
    const repaired = await record(d);
    expect(chain(repaired.lastResult!.log)).toEqual(['rollingBack:repair', 'reporting:rolledBack', 'idle:reported']);
    expect(repaired.lastResult).toMatchObject({ result: 'rolled-back', reason: 'bootloader-fallback', fromCommit: A, toCommit: B });
    expect(repaired.skippedReleases.map((s) => s.commit)).toEqual([B]);
    await expectAtRest(d, 'rolled-back', 'repaired after the fallback');
  });
});
