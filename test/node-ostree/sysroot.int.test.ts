import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDirectory } from '../../node-ostree/commit.js';
import { OstreeError } from '../../node-ostree/errors.js';
import { Repo } from '../../node-ostree/repo.js';
import { Sysroot, type Deployment } from '../../node-ostree/sysroot.js';
import { ostree, removeTree } from '../helpers/ostree-cli.js';
import { rejectionOf } from '../helpers/errors.js';

// Sysroot against `ostree admin`: what the binding deploys, reorders, pins and removes is what
// `ostree admin status` and the boot loader entries show, and what the CLI deploys the binding
// lists. The tests run in order on one sysroot in a temp dir (nothing here needs a booted system).

const KARGS = ['root=LABEL=rootfs', 'console=ttyS0,115200n8', 'quiet'];
let tmp: string;
let dir: string; // the sysroot
let sr: Sysroot;
let repo: Repo;
let c1: string;
let c2: string;

/** An image tree as deploy wants it: a kernel under usr/lib/modules, os-release, usr/etc. */
async function imageTree(path: string, kver: string, version: string): Promise<void> {
  await mkdir(join(path, 'usr/lib/modules', kver), { recursive: true });
  await mkdir(join(path, 'usr/etc'), { recursive: true });
  await mkdir(join(path, 'usr/bin'), { recursive: true });
  await writeFile(join(path, 'usr/lib/modules', kver, 'vmlinuz'), `kernel ${kver}\n`);
  await writeFile(join(path, 'usr/lib/os-release'), `ID=debian\nVERSION_ID=${version}\nPRETTY_NAME="Debian ${version}"\n`);
  await writeFile(join(path, 'usr/etc/hostname'), 'device\n');
  await writeFile(join(path, 'usr/bin/app'), `app ${version}\n`);
}

interface StatusEntry {
  osname: string;
  checksum: string;
  serial: number;
  details: string[];
}

/** `ostree admin status` parsed: deployments in order, with their indented detail lines. */
async function cliStatus(): Promise<StatusEntry[]> {
  const out = await ostree(['admin', 'status', `--sysroot=${dir}`]);
  const entries: StatusEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^[* ] (\S+) ([0-9a-f]{64})\.(\d+)/.exec(line);
    if (m) entries.push({ osname: m[1]!, checksum: m[2]!, serial: Number(m[3]), details: [] });
    else if (line.startsWith('    ') && entries.length) entries.at(-1)!.details.push(line.trim());
  }
  return entries;
}

/** The boot loader entries (boot/loader/entries/*.conf) as key -> value maps, sorted by file name. */
async function loaderEntries(): Promise<Map<string, string>[]> {
  const entriesDir = join(dir, 'boot/loader/entries');
  const files = (await readdir(entriesDir)).filter((f) => f.endsWith('.conf')).sort();
  const out: Map<string, string>[] = [];
  for (const f of files) {
    const m = new Map<string, string>([['file', f]]);
    for (const line of (await readFile(join(entriesDir, f), 'utf8')).split('\n')) {
      const i = line.indexOf(' ');
      if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
    }
    out.push(m);
  }
  return out;
}

/** The loader entry for boot position `index` (ostree titles them "... (ostree:N)"). */
async function entryFor(index: number): Promise<Map<string, string>> {
  const e = (await loaderEntries()).find((m) => m.get('title')?.endsWith(`(ostree:${index})`));
  if (!e) throw new Error(`no loader entry for deployment ${index}`);
  return e;
}

const rejection = (p: Promise<unknown> | (() => unknown)) => rejectionOf(OstreeError, p);

const summary = (ds: Deployment[]) => ds.map((d) => `${d.index} ${d.checksum}.${d.serial}`);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-sysroot-'));
  dir = join(tmp, 'sysroot');
  sr = await Sysroot.open(dir);
});
afterAll(async () => {
  repo?.close();
  sr?.close();
  if (tmp) await removeTree(tmp);
});

describe('Sysroot', () => {
  it('initFs and osInit lay out an empty sysroot the CLI accepts', async () => {
    await sr.initFs();
    await sr.osInit('debian');
    await sr.initFs(); // idempotent
    for (const p of ['ostree/repo/objects', 'ostree/deploy/debian/var']) expect(existsSync(join(dir, p))).toBe(true);
    // the top level is what `ostree admin init-fs --modern` makes
    const cliRoot = join(tmp, 'cli-init-fs');
    await mkdir(cliRoot);
    await ostree(['admin', 'init-fs', '--modern', cliRoot]);
    expect((await readdir(dir)).sort()).toEqual((await readdir(cliRoot)).sort());
    expect((await ostree([`--repo=${join(dir, 'ostree/repo')}`, 'config', 'get', 'core.mode'])).trim()).toBe('bare');
    expect(sr.deployments()).toEqual([]);
    expect(await cliStatus()).toEqual([]);
    expect(await ostree(['admin', 'status', `--sysroot=${dir}`])).toContain('No deployments');

    repo = await Repo.open(join(dir, 'ostree/repo'), { disableFsync: true });
    await imageTree(join(tmp, 'v1'), '6.1.0-1-arm64', '12.1');
    await imageTree(join(tmp, 'v2'), '6.1.0-2-arm64', '12.2');
    c1 = (await commitDirectory(repo, join(tmp, 'v1'), { ref: 'debian/stable', subject: 'v1', timestamp: 1_700_000_000 })).checksum;
    c2 = (await commitDirectory(repo, join(tmp, 'v2'), { ref: 'debian/stable', parent: c1, subject: 'v2', timestamp: 1_700_000_100 })).checksum;
  });

  it('deploys a commit with kernel arguments and an origin', async () => {
    const d = await sr.deploy('debian', c1, { kargs: KARGS, refspec: 'origin:debian/stable' });
    expect(d).toMatchObject({ index: 0, osname: 'debian', checksum: c1, serial: 0, pinned: false, staged: false, path: `ostree/deploy/debian/deploy/${c1}.0` });
    expect(d.kargs.startsWith(KARGS.join(' '))).toBe(true);
    expect(d.origin).toContain('refspec=origin:debian/stable');
    expect(sr.deployments()).toEqual([d]);
    // the deployment's files, /etc merged from /usr/etc
    expect(await readFile(join(dir, d.path, 'usr/lib/os-release'), 'utf8')).toContain('VERSION_ID=12.1');
    expect(await readFile(join(dir, d.path, 'etc/hostname'), 'utf8')).toBe('device\n');

    const status = await cliStatus();
    expect(status.map((s) => `${s.checksum}.${s.serial}`)).toEqual([`${c1}.0`]);
    expect(status[0]!.details).toContain('origin refspec: origin:debian/stable');

    const entries = await loaderEntries();
    expect(entries).toHaveLength(1);
    const e = entries[0]!;
    expect(e.get('options')!.split(' ').slice(0, KARGS.length)).toEqual(KARGS);
    expect(e.get('options')).toContain(`ostree=/ostree/boot.`);
    expect(e.get('linux')).toMatch(/\/vmlinuz-6\.1\.0-1-arm64$/);
    expect(existsSync(join(dir, 'boot', e.get('linux')!))).toBe(true);
    expect(e.get('title')).toContain('(ostree:0)');
  });

  it('deploys a second commit by ref: it becomes the default and keeps the kernel arguments', async () => {
    const d = await sr.deploy('debian', 'debian/stable');
    expect(d).toMatchObject({ index: 0, checksum: c2, serial: 0 });
    expect(d.kargs.startsWith(KARGS.join(' '))).toBe(true); // from the merge deployment
    expect(d.origin).toContain('refspec=debian/stable'); // the revision, as `ostree admin deploy` writes it
    const list = sr.deployments();
    expect(summary(list)).toEqual([`0 ${c2}.0`, `1 ${c1}.0`]);
    // nothing is booted here: libostree names a rollback only relative to a booted deployment
    expect(list.map((x) => x.role)).toEqual(['pending', 'other']);
    expect((await cliStatus()).map((s) => s.checksum)).toEqual([c2, c1]);

    expect(await loaderEntries()).toHaveLength(2);
    expect((await entryFor(0)).get('linux')).toMatch(/vmlinuz-6\.1\.0-2-arm64$/);
    expect((await entryFor(1)).get('linux')).toMatch(/vmlinuz-6\.1\.0-1-arm64$/);
    // the default entry sorts last (highest version), as boot loaders pick it
    expect((await loaderEntries()).at(-1)!.get('title')).toContain('(ostree:0)');
  });

  it('setDefault moves a deployment first', async () => {
    await sr.setDefault(1);
    expect(summary(sr.deployments())).toEqual([`0 ${c1}.0`, `1 ${c2}.0`]);
    expect((await cliStatus()).map((s) => s.checksum)).toEqual([c1, c2]);
    expect((await entryFor(0)).get('linux')).toMatch(/vmlinuz-6\.1\.0-1-arm64$/);
    expect((await entryFor(0)).get('options')!.startsWith(KARGS.join(' '))).toBe(true);
    // and back
    await sr.setDefault(1);
    expect(summary(sr.deployments())).toEqual([`0 ${c2}.0`, `1 ${c1}.0`]);
  });

  it('pins and unpins, as `ostree admin status` shows and `ostree admin pin` does', async () => {
    await sr.pin(1);
    expect(sr.deployments().map((d) => d.pinned)).toEqual([false, true]);
    let status = await cliStatus();
    expect(status[1]!.details).toContain('Pinned: yes');
    expect(status[0]!.details).not.toContain('Pinned: yes');
    await sr.pin(1, false);
    expect(sr.deployments().map((d) => d.pinned)).toEqual([false, false]);
    status = await cliStatus();
    expect(status.flatMap((s) => s.details)).not.toContain('Pinned: yes');
    // the deployment made without a refspec has an origin too (its revision), so it can be pinned
    expect(sr.deployments()[0]!.origin).toContain('refspec=debian/stable');
    await sr.pin(0);
    expect(sr.deployments().map((d) => d.pinned)).toEqual([true, false]);
    expect((await cliStatus())[0]!.details).toContain('Pinned: yes');
    await sr.pin(0, false);
    // the CLI pins, the binding sees it
    await ostree(['admin', 'pin', `--sysroot=${dir}`, '0']);
    await sr.load();
    expect(sr.deployments().map((d) => d.pinned)).toEqual([true, false]);
    await sr.pin(0, false);
    expect(sr.deployments().map((d) => d.pinned)).toEqual([false, false]);
  });

  it('writeOrigin replaces the origin file', async () => {
    await sr.writeOrigin(0, '[origin]\nrefspec=fleet:debian/testing\n');
    const d = sr.deployments()[0]!;
    expect(d.origin).toContain('refspec=fleet:debian/testing');
    expect((await cliStatus())[0]!.details).toContain('origin refspec: fleet:debian/testing');
    expect(await readFile(join(dir, `${d.path}.origin`), 'utf8')).toContain('refspec=fleet:debian/testing');
  });

  it('undeploys, and cleanup removes the files', async () => {
    const gone = sr.deployments()[1]!;
    expect(existsSync(join(dir, gone.path))).toBe(true);
    await sr.undeploy(1);
    await sr.cleanup();
    expect(summary(sr.deployments())).toEqual([`0 ${c2}.0`]);
    expect((await cliStatus()).map((s) => s.checksum)).toEqual([c2]);
    expect(existsSync(join(dir, gone.path))).toBe(false);
    expect(await loaderEntries()).toHaveLength(1);
    expect((await entryFor(0)).get('linux')).toMatch(/vmlinuz-6\.1\.0-2-arm64$/);
    // the old kernel's boot directory went with it, and the commit no ref or deployment holds
    expect(await readdir(join(dir, 'boot/ostree'))).toHaveLength(1);
    expect(repo.hasObject('commit', c1)).toBe(false);
    expect(repo.hasObject('commit', c2)).toBe(true);
  });

  it('lists deployments the CLI made, with their kernel arguments and origin', async () => {
    const c3 = (await commitDirectory(repo, join(tmp, 'v1'), { ref: 'debian/cli', subject: 'v3', timestamp: 1_700_000_200 })).checksum;
    await ostree(['admin', 'deploy', `--sysroot=${dir}`, '--os=debian', c3, '--karg-none', '--karg=root=LABEL=cli', '--karg=ro', '--karg=console=tty0']);
    await sr.load();
    const list = sr.deployments();
    expect(summary(list)).toEqual([`0 ${c3}.0`, `1 ${c2}.0`]);
    expect(list[0]!.kargs.split(' ').slice(0, 3)).toEqual(['root=LABEL=cli', 'ro', 'console=tty0']);
    expect(list[0]!.kargs).toBe((await entryFor(0)).get('options'));
    expect(list[1]!.kargs).toBe((await entryFor(1)).get('options'));
    expect(list[0]!.origin).toContain(`refspec=${c3}`);
    expect(list[0]!.path).toBe(`ostree/deploy/debian/deploy/${c3}.0`);
    expect(list[1]!.origin).toContain('refspec=fleet:debian/testing');
    // the CLI merged /etc from the binding's deployment
    expect(existsSync(join(dir, list[0]!.path, 'etc/hostname'))).toBe(true);
    // a second CLI deployment of the same commit gets the next serial, and the merge deployment's kargs
    await ostree(['admin', 'deploy', `--sysroot=${dir}`, '--os=debian', '--retain', c3]);
    await sr.load();
    expect(summary(sr.deployments())).toEqual([`0 ${c3}.1`, `1 ${c3}.0`, `2 ${c2}.0`]);
    expect(sr.deployments()[0]!.kargs.split(' ').slice(0, 3)).toEqual(['root=LABEL=cli', 'ro', 'console=tty0']);
    // what the CLI undeploys, the binding no longer lists
    await ostree(['admin', 'undeploy', `--sysroot=${dir}`, '2']);
    await sr.load();
    expect(summary(sr.deployments())).toEqual([`0 ${c3}.1`, `1 ${c3}.0`]);
    expect((await cliStatus()).map((s) => `${s.checksum}.${s.serial}`)).toEqual([`${c3}.1`, `${c3}.0`]);
    // and the binding's next deployment merges from the CLI's
    const d = await sr.deploy('debian', c2, { refspec: 'fleet:debian/stable' });
    expect(d.index).toBe(0);
    expect(d.kargs.split(' ').slice(0, 3)).toEqual(['root=LABEL=cli', 'ro', 'console=tty0']);
    // (c2.0 is free again: the CLI undeployed it)
    expect(summary(sr.deployments())).toEqual([`0 ${c2}.0`, `1 ${c3}.1`]);
    expect((await cliStatus()).map((s) => `${s.checksum}.${s.serial}`)).toEqual([`${c2}.0`, `${c3}.1`]);
  });

  it('rejects a missing revision, and a bad index, leaving the deployments as they were', async () => {
    const before = summary(sr.deployments());
    const ref = await rejection(sr.deploy('debian', 'debian/no-such-ref'));
    expect(ref.message).toContain('debian/no-such-ref');
    expect(ref.message).toContain(dir);
    const missing = '0'.repeat(64);
    const cs = await rejection(sr.deploy('debian', missing));
    expect(cs.message).toContain(missing);
    expect(cs.domain).toBe('g-io-error-quark');
    for (const op of [() => sr.undeploy(7), () => sr.setDefault(7), () => sr.pin(7), () => sr.writeOrigin(7, '[origin]\nrefspec=x\n')]) {
      const e = await rejection(op());
      expect(e.message).toContain('deployment 7');
      expect(e.message).toContain('there are 2 deployments');
    }
    expect(summary(sr.deployments())).toEqual(before);
    expect((await cliStatus()).map((s) => `${s.checksum}.${s.serial}`)).toEqual(before.map((s) => s.slice(2)));
    // the sysroot is still usable: the lock was released
    await sr.cleanup();
  });
});
