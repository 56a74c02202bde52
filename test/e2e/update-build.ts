/**
 * The host's half of the update proof (update-scenario.ts runs it): the agent's .deb for the
 * board's architecture (`npm run build:agent` and `build:agent-deb` when out/agent has none), a
 * signed local archive with the e2e packages, the images A, B and C built from three manifests
 * that differ in one package (`ota-e2e-app=1.0|1.1|1.2`), D (B with an initramfs that cannot start
 * init), the release key, `ota publish` of each version as its step comes, and A's disk made from
 * the published 1.0 and provisioned for the guest's network.
 *
 * @example
 * const host = await prepareHost(e2e);
 * await host.publish('1.0', host.built.a.checksum);
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { OtaError } from '../../common/errors.js';
import { main } from '../../host-tools/cli/main.js';
import { makeImage } from '../../host-tools/image/disk-image.js';
import { planProvision } from '../../host-tools/image/provision.js';
import type { BuiltImage, E2e, E2eDisk } from './boot-e2e.js';
import { commitLayer, layerDirs, manifestLines, writeLocalArchive } from './e2e-image.js';
import { LEAN_PACKAGE, REPORT_PACKAGE, brokenInitramfs } from './report-package.js';
import { APP_PACKAGES, FAILING_CHECK, FAILING_CHECK_PATH, NET_PACKAGE } from './update-packages.js';
import { GUEST_BROKER, GUEST_REMOTE } from './update-device.js';

const REPO = join(import.meta.dirname, '../..');
/** The image's name: its ref is `e2e-update/<arch>/<board>`. */
const IMAGE = 'e2e-update';
export const GROUP = 'e2e';

export interface HostSide {
  ref: string;
  deviceId: string;
  built: { a: BuiltImage; b: BuiltImage; c: BuiltImage; d: BuiltImage };
  keys: string;
  published: string;
  agentDeb: string;
  /** `ota publish` of a built commit as `version` for the group (its deltas from the last three). */
  publish(version: string, commit: string): Promise<void>;
}

/** The agent's .deb for `arch` in out/agent, built first when there is none. */
export async function agentDeb(e2e: E2e, arch: string): Promise<string> {
  const dir = join(REPO, 'out/agent');
  const find = async () => (existsSync(dir) ? (await readdir(dir)).filter((f) => f.startsWith('ota-agent_') && f.endsWith(`_${arch}.deb`)).sort().pop() : undefined);
  let deb = await find();
  if (!deb) {
    e2e.log(`    no out/agent/ota-agent_*_${arch}.deb: npm run build:agent, build:agent-deb`);
    await run('npm run build:agent', ['npm', 'run', 'build:agent', '--', '--arch', arch], { cwd: REPO });
    await run('npm run build:agent-deb', ['npm', 'run', 'build:agent-deb', '--', '--arch', arch], { cwd: REPO });
    deb = await find();
    if (!deb) throw new OtaError('ERR_OTA_BUILD', `npm run build:agent-deb left no ota-agent_*_${arch}.deb in ${dir}`);
  }
  return join(dir, deb);
}

/** The signed local archive (report, net and app packages) and the manifests of A and B. */
async function writeManifests(e2e: E2e, deb: string): Promise<{ a: string; b: string }> {
  const dir = e2e.options.work;
  await writeLocalArchive(dir, e2e.board.arch, [REPORT_PACKAGE, LEAN_PACKAGE, NET_PACKAGE, ...APP_PACKAGES], 'deb-ota e2e update');
  await mkdir(join(dir, 'debs'), { recursive: true });
  const localDeb = join('debs', deb.split('/').pop()!);
  await copyFile(deb, join(dir, localDeb));
  const manifest = async (name: string, app: string) => {
    const path = join(dir, `image-${name}.yaml`);
    await writeFile(path, manifestLines({
      comment: `deb-ota e2e update ${name.toUpperCase()}: minbase + systemd-sysv, the agent's .deb, network, report, ota-e2e-app ${app}`,
      name: IMAGE, board: e2e.board, dir, hostSuites: e2e.options.hostSuites,
      packages: ['systemd-sysv', 'ota-e2e-report', 'ota-e2e-lean', 'ota-e2e-net', `ota-e2e-app=${app}`], debs: [localDeb],
    }).join('\n'));
    return path;
  };
  return { a: await manifest('a', '1.0'), b: await manifest('b', '1.1') };
}

/** `ota ...` in this process; its lines go to the log, a failure throws with them. */
export async function ota(e2e: E2e, args: string[]): Promise<string[]> {
  const lines: string[] = [];
  let err = '';
  const code = await main(['node', 'ota', ...args], (l) => lines.push(l), { write: (t: string) => ((err += t), true) });
  for (const l of lines) e2e.log(`    ota ${args[0]}| ${l}`);
  if (code !== 0) throw new OtaError('ERR_OTA_EXEC', `ota ${args.join(' ')} exited ${code}`, { details: err.trim().split('\n').slice(-15) });
  return lines;
}

/** Builds A, B, C and makes D; the release key; an empty published directory. */
export async function prepareHost(e2e: E2e, step: <T>(name: string, fn: () => Promise<T>) => Promise<T>): Promise<HostSide> {
  const work = e2e.options.work;
  const deb = await step(`0a. the agent's .deb for ${e2e.board.arch}`, () => agentDeb(e2e, e2e.board.arch));
  e2e.log(`    ${deb}`);
  const manifests = await step('0b. signed local archive (report, net, app 1.0/1.1) and manifests A, B', () => writeManifests(e2e, deb));
  const a = await step('0c. ota build A (ota-e2e-app 1.0, the agent)', () => e2e.buildReference(manifests.a));
  const b = await step('0d. ota build B (ota-e2e-app 1.1: one package bumped)', () => e2e.buildReference(manifests.b));
  // C and D are B with one file changed, committed here: a third and fourth build would take as long as B's for nothing more
  const c = await step('0e. commit C = B with a required health check that fails', () => withFile(e2e, b, `${a.ref}-unhealthy`, { path: FAILING_CHECK_PATH, data: FAILING_CHECK }));
  const d = await step('0f. commit D = B with an initramfs that cannot start init', () => e2e.withInitramfs(b.checksum, `${a.ref}-broken`, brokenInitramfs(), `${a.ref} 1.1 with an initramfs that cannot start init (deb-ota e2e)`));
  for (const [n, x] of Object.entries({ A: a, B: b, C: c, D: d })) e2e.log(`    ${n} = ${x.checksum}${x.noop ? ' (built already)' : ''}`);
  const keys = join(work, 'keys');
  if (!existsSync(join(keys, 'release.pub.jwks'))) await ota(e2e, ['keys', 'generate', keys]);
  // a fresh published directory each run: versions are never published twice
  const published = join(work, 'published');
  await rm(published, { recursive: true, force: true });
  const ref = a.ref;
  return {
    ref,
    deviceId: `e2e-${e2e.board.name}`,
    built: { a, b, c, d },
    keys,
    published,
    agentDeb: deb,
    publish: async (version, commit) => {
      await ota(e2e, ['publish', '--repo', e2e.repoPath, '--to', published, '--ref', ref, '--commit', commit, '--version', version, '--key', keys, '--group', GROUP, '-q']);
    },
  };
}

/** A commit of `base`'s tree with one executable file added (its folders 0755), metadata kept, at `newRef`. */
async function withFile(e2e: E2e, base: BuiltImage, newRef: string, file: { path: string; data: string }): Promise<BuiltImage> {
  const r = await commitLayer({ repoPath: e2e.repoPath, work: e2e.options.work, base: base.checksum, ref: newRef, subject: `${base.ref} with /${file.path} (deb-ota e2e)` }, async (dir) => {
    await layerDirs(dir, file.path);
    await writeFile(join(dir, file.path), file.data, { mode: 0o755 });
    await chmod(join(dir, file.path), 0o755);
  });
  return { ...base, ref: newRef, checksum: r.checksum, packages: 0, noop: false };
}

/** A's disk: `ota image` of the published 1.0, provisioned for the guest's network and the release key. */
export async function makeDeviceDisk(e2e: E2e, host: Pick<HostSide, 'deviceId' | 'keys' | 'published' | 'ref'> & { group?: string }): Promise<E2eDisk> {
  const provision = await planProvision({ deviceId: host.deviceId, group: host.group ?? GROUP, remote: GUEST_REMOTE, broker: GUEST_BROKER, trustedKeys: join(host.keys, 'release.pub.jwks') });
  // 4 GiB (sparse): step 4 goes back to 1.0 by a whole pull, which preflight sizes as the full
  // commit unpacked, since libostree 2022.7 drops A's deployment when it finalizes a staged one
  const r = await makeImage({ board: e2e.board.name, repoPath: join(host.published, 'repo'), ref: host.ref, output: join(e2e.options.work, 'device.img'), sizeBytes: 4 * 2 ** 30, provision });
  await journalToConsole(e2e, r);
  return { ...r, entries: await e2e.bootloader.diskEntries(r, e2e.options.work) };
}

/**
 * The device's journal on its console too, where the harness reads it (the agent's transitions,
 * ostree-finalize-staged's words at shutdown): a journald drop-in written into the deployment's
 * /etc with debugfs, after ota image, as a person would add it on the device.
 */
async function journalToConsole(e2e: E2e, disk: Awaited<ReturnType<typeof makeImage>>): Promise<void> {
  const root = disk.plan.partitions.find((p) => p.role === 'root')!;
  const conf = join(e2e.options.work, 'journald-console.conf');
  await writeFile(conf, '# deb-ota e2e: the journal on the console, where the harness reads it\n[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n');
  const cmds = disk.deployments.flatMap((d) => [`mkdir /${d}/etc/systemd/journald.conf.d`, `write ${conf} /${d}/etc/systemd/journald.conf.d/90-ota-e2e-console.conf`]);
  await writeFile(join(e2e.options.work, 'debugfs.cmds'), `${cmds.join('\n')}\n`);
  await run('add the journald drop-in (debugfs)', ['debugfs', '-w', '-f', join(e2e.options.work, 'debugfs.cmds'), `${disk.output}?offset=${root.offsetBytes}`]);
}

/** The published commit of a version (what the device runs once it took it). */
export async function publishedCommit(host: HostSide, version: string): Promise<string> {
  const jws = (await readFile(join(host.published, 'releases', host.ref, `${version}.jws`), 'utf8')).trim();
  return (JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as { commit: string }).commit;
}
