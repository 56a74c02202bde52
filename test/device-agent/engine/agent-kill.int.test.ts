import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nextBoot, ubootBackend } from '../../../bootloader/index.js';
import { start } from '../../../common/exec.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import type { State } from '../../../device-agent/engine/states.js';
import { Sysroot } from '../../../node-ostree/index.js';
import { makeTwoDeploymentSysroot } from '../../bootloader/ostree-sysroot.js';
import { ostree, removeTree } from '../../helpers/ostree-cli.js';
import { expectedChain } from './recording-device.js';

const AGENT = join(import.meta.dirname, 'agent-process.ts');
let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-kill-'));
});
afterEach(async () => {
  for (const name of await readdir(tmp)) await removeTree(join(tmp, name));
  await removeTree(tmp);
});

interface Device {
  dir: string;
  A: string;
  B: string;
}

/** A real sysroot running A, with B committed in its repository and not deployed; the U-Boot env idle. */
async function device(name: string): Promise<Device> {
  const dir = join(tmp, name);
  await makeTwoDeploymentSysroot(dir);
  const sr = await Sysroot.open(join(dir, 'sysroot'));
  await sr.load();
  const [B, A] = sr.deployments().map((d) => d.checksum) as [string, string];
  await sr.undeploy(0);
  sr.close();
  await writeFile(join(dir, 'ota.env'), 'bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n');
  await writeFile(join(dir, 'target'), B);
  await writeFile(join(dir, 'booted'), A);
  await writeFile(join(dir, 'health'), 'ok');
  return { dir, A, B };
}

/** The test's boot: the boot script's choice over the real env and OSTree's real entry order. */
async function boot(dir: string): Promise<void> {
  const bl = ubootBackend({ envPath: join(dir, 'ota.env') });
  const sr = await Sysroot.open(join(dir, 'sysroot'));
  await sr.load();
  const list = sr.deployments();
  const decision = nextBoot(await bl.getState(), list.length > 1);
  if (decision.saved) await bl.setState(decision.state);
  await writeFile(join(dir, 'booted'), list[decision.entry]!.checksum);
  sr.close();
}

/** Runs the agent process until it rests in idle, booting whenever it asked for a reboot; returns the kills. */
async function runToIdle(dir: string): Promise<number> {
  let kills = 0;
  for (let mode = 'check', i = 0; i < 20; i++, mode = 'resume') {
    const { code, signal, stdout, stderr } = await start('ota-agent engine', [process.execPath, '--import', 'tsx', AGENT, dir, mode]).exited;
    if (signal === 'SIGKILL') kills++;
    else if (code !== 0) throw new Error(`agent exited ${code}: ${stderr}`);
    else if (stdout.trim() === 'idle') return kills;
    if (await access(join(dir, 'reboot-requested')).then(() => true, () => false)) {
      await rm(join(dir, 'reboot-requested'));
      await boot(dir);
    }
  }
  throw new Error('the agent never came to rest');
}

async function adminStatus(dir: string): Promise<string[]> {
  const out = await ostree(['admin', 'status', `--sysroot=${join(dir, 'sysroot')}`]);
  return [...out.matchAll(/debian ([0-9a-f]{64})\.\d+/g)].map((m) => m[1]!);
}

describe('the engine as a process, SIGKILLed after each persisted state (real sysroot, real U-Boot env, stand-in reboot)', () => {
  it('ends committed on B, or on A when killed before deploying ran, with the exact log; ostree admin status agrees', async () => {
    const clean = await device('clean');
    expect(await runToIdle(clean.dir)).toBe(0);
    const cleanLog = (await new StateStore({ dir: join(clean.dir, 'state') }).load()).lastResult!.log.map((e) => `${e.state}:${e.event}`);
    const saves = Number(await readFile(join(clean.dir, 'saves'), 'utf8'));
    expect(saves).toBe(10);
    for (let k = 1; k < saves; k++) {
      const { dir, A, B } = await device(`kill-${k}`);
      await writeFile(join(dir, 'kill-at'), String(k));
      expect(await runToIdle(dir), `killed after save ${k}`).toBe(1);
      const record = await new StateStore({ dir: join(dir, 'state') }).load();
      const killedIn = (await readFile(join(dir, 'killed-in'), 'utf8')) as State;
      const log = record.lastResult!.log.map((e) => `${e.state}:${e.event}`);
      expect(log, `killed after save ${k} (${killedIn})`).toEqual(expectedChain(cleanLog, killedIn));
      const rolledBack = killedIn === 'deploying';
      expect(record.lastResult?.result).toBe(rolledBack ? 'rolled-back' : 'committed');
      expect(await readFile(join(dir, 'booted'), 'utf8')).toBe(rolledBack ? A : B);
      expect(await adminStatus(dir)).toEqual(rolledBack ? [A] : [B, A]);
      expect(await ubootBackend({ envPath: join(dir, 'ota.env') }).getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
      await removeTree(dir);
    }
  });
});
