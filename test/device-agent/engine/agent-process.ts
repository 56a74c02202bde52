/**
 * The engine as a separate process for the SIGKILL crash tests: `node --import tsx agent-process.ts DIR
 * check|resume`. Everything it knows lives on disk in DIR, as on a device: the real sysroot (DIR/sysroot),
 * the real U-Boot env (DIR/ota.env), the state record (DIR/state), and the stand-ins at the process boundary:
 * DIR/booted (the commit the last boot chose, written by the test's boot), DIR/reboot-requested (the
 * stand-in reboot), DIR/health (`ok` or not). DIR/kill-at holds the save after which the process SIGKILLs
 * itself (counted across processes in DIR/saves), having written the state it saved to DIR/killed-in. It prints the state it rests in.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ubootBackend } from '../../../bootloader/index.js';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { sysrootView } from '../../../device-agent/engine/sysroot-view.js';
import { prune } from '../../../device-agent/update/index.js';
import { Sysroot } from '../../../node-ostree/index.js';
import { HEALTHY, UNHEALTHY } from './recording-device.js';

const [dir, mode] = process.argv.slice(2);
if (!dir || (mode !== 'check' && mode !== 'resume')) throw new Error('usage: agent-process.ts DIR check|resume');
const text = async (name: string) => (await readFile(join(dir, name), 'utf8').catch(() => '')).trim();
const target = await text('target');
const sr = await Sysroot.open(join(dir, 'sysroot'));
await sr.load();
const release = { ref: 'os', version: '1.1', commit: target, minVersion: null };
const machine = new AgentMachine({
  store: new StateStore({ dir: join(dir, 'state') }),
  deps: {
    sysroot: sysrootView(sr, { bootedCommit: async () => (await text('booted')) || null }),
    bootloader: ubootBackend({ envPath: join(dir, 'ota.env') }),
    update: {
      fetchRelease: async () => 'h.p.s',
      fetchVersion: async () => 'h.p.s',
      preflight: async () => ({ verdict: 'go', target: release, releaseJws: 'h.p.s' }),
      download: async () => {}, // the commit is already in the sysroot's repository
      deploy: async () => ({ commit: (await sr.deploy('debian', target)).checksum }),
      renderBootConfig: async () => {},
      prune: async () => void (await prune(sr)),
      cleanDownloads: async () => {},
    },
    health: { run: async () => ((await text('health')) === 'ok' ? HEALTHY : UNHEALTHY) },
    policy: { reboot: 'auto', mayApply: () => true },
    clock: { now: () => new Date() },
    reboot: async () => writeFile(join(dir, 'reboot-requested'), ''),
    emit: () => {},
  },
  onSaved: async (record) => {
    const saves = Number((await text('saves')) || '0') + 1;
    await writeFile(join(dir, 'saves'), String(saves));
    if (saves !== Number(await text('kill-at'))) return;
    await writeFile(join(dir, 'killed-in'), record.state);
    process.kill(process.pid, 'SIGKILL');
  },
});
const r = mode === 'check' ? await machine.check({ id: 'u1' }) : await machine.resume();
sr.close();
process.stdout.write(`${r.state}\n`);
