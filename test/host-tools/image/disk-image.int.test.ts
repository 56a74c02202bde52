import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { build, type ImageBuild } from '../../../host-tools/compose/build.js';
import { main } from '../../../host-tools/cli/main.js';
import { makeImage, type ImageResult } from '../../../host-tools/image/disk-image.js';
import { fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import { BOARD_YAML, boardPackages } from '../../helpers/board-fixture.js';
import { otaRejection } from '../../helpers/errors.js';
import { generateSigningKey } from '../../../contract/keys.js';
import { parse as parseYaml } from 'yaml';
import { makeTestPki } from '../../helpers/tls-certs.js';

// An arm64 fixture image on a fixture U-Boot board (configured through qemu-user), made into a
// disk image, then read back with the tools that know these formats: sfdisk, debugfs, mtools.
const MTOOLS = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };

describe('ota image', () => {
  let root: string;
  let fx: FixtureImage;
  let boardsDir: string;
  let img: ImageBuild;
  let r: ImageResult;
  let disk: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-image-'));
    fx = await fixtureImage(join(root, 'img'), 'arm64', boardPackages('arm64', '6.1.0-1'));
    boardsDir = join(root, 'boards');
    await mkdir(join(boardsDir, 'fxboard'), { recursive: true });
    await writeFile(join(boardsDir, 'fxboard/board.yaml'), BOARD_YAML('arm64'));
    await fx.writeManifest([], 'board: fxboard');
    img = (await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, boardsDir })).images[0]!;
    disk = join(root, 'out/disk.img');
    r = await makeImage({ board: join(boardsDir, 'fxboard/board.yaml'), repoPath: join(fx.dir, 'repo'), ref: img.ref, output: disk, remoteUrl: 'http://updates.example.invalid/repo' });
  }, 300_000);
  afterAll(async () => {
    await fx?.server.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const debugfs = async (cmd: string) => (await run('debugfs', ['debugfs', '-R', cmd, `${disk}?offset=${r.plan.partitions[1]!.offsetBytes}`])).stdout;

  it("lays out the board's partition table", async () => {
    const table = JSON.parse((await run('sfdisk', ['sfdisk', '--json', disk])).stdout) as { partitiontable: { label: string; partitions: { start: number; size: number; name?: string }[] } };
    expect(table.partitiontable.label).toBe('gpt');
    expect(table.partitiontable.partitions.map((p) => [p.name, p.start * 512, p.size * 512])).toEqual(r.plan.partitions.map((p) => [p.label, p.offsetBytes, p.sizeBytes]));
    expect(r.plan.partitions[0]!.sizeBytes).toBe(64 * 1024 * 1024);
  });

  it('puts a deployed OSTree sysroot on the root partition: root=UUID of that file system, the update remote as origin, uEnv.txt for U-Boot', async () => {
    const uuid = (await run('dumpe2fs', ['dumpe2fs', '-h', `${disk}?offset=${r.plan.partitions[1]!.offsetBytes}`])).stdout;
    expect(uuid).toContain(`Filesystem UUID:          ${r.rootUuid}`);
    const uEnv = await debugfs('cat /boot/loader/uEnv.txt');
    expect(uEnv).toMatch(/^kernel_image=\/boot\/ostree\/fx-[0-9a-f]+\/vmlinuz-6\.1\.0-1$/m);
    expect(uEnv).toMatch(new RegExp(`^bootargs=.*root=UUID=${r.rootUuid} rw .*console=ttyS0 ostree=/ostree/boot\\.1/fx/`, 'm'));
    const origin = await debugfs(`cat /${r.deployment}.origin`);
    expect(origin).toContain('refspec=ota:fx/arm64/fxboard');
    expect(await debugfs('cat /ostree/repo/config')).toContain('url=http://updates.example.invalid/repo');
    expect(await debugfs(`cat /${r.deployment}/usr/lib/os-release`)).toMatch(/^ID=debian$/m);
  });

  it('fills the vfat boot partition: compiled boot script, initial boot state (and its backup copy), the bootloader file', async () => {
    const at = `${disk}@@${r.plan.partitions[0]!.offsetBytes}`;
    const listing = (await run('mdir', ['mdir', '-b', '-i', at, '::/'], MTOOLS)).stdout;
    expect(listing.split('\n').map((l) => l.trim()).filter(Boolean).sort()).toEqual(['::/boot.scr', '::/ota.bak', '::/ota.env', '::/u-boot.bin']);
    for (const copy of ['::/ota.env', '::/ota.bak']) expect((await run('mtype', ['mtype', '-i', at, copy], MTOOLS)).stdout).toBe('bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n');
    expect((await run('mtype', ['mtype', '-i', at, '::/u-boot.bin'], MTOOLS)).stdout).toBe('u-boot\n');
    const scr = (await run('mcopy', ['mcopy', '-i', at, '::/boot.scr', '-'], { ...MTOOLS, binary: true })).stdout;
    expect((await run('mkimage -l', ['sh', '-c', 'cat > "$1.scr" && mkimage -l "$1.scr"', 'sh', join(root, 'probe')], { input: scr })).stdout).toContain('AArch64 Linux Script');
  });

  it('mounts the boot partition at /boot/efi by its volume id and writes the agent\'s board layer (docs/agent.md, "The board layer")', async () => {
    const probed = (await run('blkid', ['blkid', '-p', '-o', 'export', '-O', String(r.plan.partitions[0]!.offsetBytes), disk])).stdout;
    expect(probed).toContain(`UUID=${r.bootMount.uuid}\n`);
    expect(r.bootMount).toEqual({ partition: 'boot', uuid: expect.stringMatching(/^[0-9A-F]{4}-[0-9A-F]{4}$/) });
    expect(await debugfs(`cat /${r.deployment}/etc/fstab`)).toMatch(new RegExp(`^UUID=${r.bootMount.uuid} /boot/efi vfat umask=0077,\\S+ 0 0$`, 'm'));
    expect(parseYaml(await debugfs(`cat /${r.deployment}/etc/ota/agent.d/00-board.yaml`))).toEqual({ board: 'fxboard', osname: 'fx', bootloader: { kind: 'uboot', envPath: '/boot/efi/ota.env', bootlimit: 3 } });
    // the mount point, on OSTree's /boot (what the deployment sees at /boot)
    expect(await debugfs('stat /boot/efi')).toMatch(/Type: directory/);
  });

  it('writes a block map so flashing skips the holes', async () => {
    expect((await stat(`${disk}.bmap`)).size).toBeGreaterThan(0);
    expect(r.mappedBytes).toBeGreaterThan(0);
    expect(r.mappedBytes).toBeLessThan(r.plan.totalBytes / 2);
  });

  it('refuses a commit without a kernel, a board of another arch, and a size too small, writing nothing', async () => {
    const small = await otaRejection(makeImage({ board: join(boardsDir, 'fxboard/board.yaml'), repoPath: join(fx.dir, 'repo'), ref: img.ref, output: join(root, 'small.img'), sizeBytes: 32 * 1024 * 1024 }));
    expect(small.message).toContain('cannot hold');
    await expect(stat(join(root, 'small.img'))).rejects.toThrow();
    const arch = await otaRejection(makeImage({ board: 'qemu-armhf', repoPath: join(fx.dir, 'repo'), ref: img.ref, output: join(root, 'x.img') }));
    expect(arch.message).toContain('is an arm64 image, and qemu-armhf is an armhf board');
    const grub = await otaRejection(makeImage({ board: 'x86_64-efi', repoPath: join(fx.dir, 'repo'), ref: img.ref, output: join(root, 'y.img') }));
    expect(grub.message).toContain('is an arm64 image, and x86_64-efi is an amd64 board');
  });

  it("copies a device tree of the deployed kernel (dtb:) to the boot partition, and refuses a board whose tree the kernel lacks", async () => {
    const withDtb = (dt: string) => BOARD_YAML('arm64')
      .replace('name: fxboard', 'name: fxdtb')
      .replace('console: ttyS0 }', `console: ttyS0, devicetrees: [${dt}] }`)
      .replace('disk:', `firmware: { install: [{ from: "dtb:${dt}", partition: boot, to: board.dtb }] }\ndisk:`);
    await mkdir(join(boardsDir, 'fxdtb'), { recursive: true });
    await writeFile(join(boardsDir, 'fxdtb/board.yaml'), withDtb('fx/fxboard.dtb'));
    const out = join(root, 'dtb.img');
    const d = await makeImage({ board: join(boardsDir, 'fxdtb/board.yaml'), repoPath: join(fx.dir, 'repo'), ref: img.ref, output: out });
    expect((await run('mtype', ['mtype', '-i', `${out}@@${d.plan.partitions[0]!.offsetBytes}`, '::/board.dtb'], MTOOLS)).stdout).toBe('device tree for 6.1.0-1\n');
    await writeFile(join(boardsDir, 'fxdtb/board.yaml'), withDtb('fx/other.dtb'));
    const err = await otaRejection(makeImage({ board: join(boardsDir, 'fxdtb/board.yaml'), repoPath: join(fx.dir, 'repo'), ref: img.ref, output: join(root, 'nodtb.img') }));
    expect(err.code).toBe('ERR_OTA_BOARD');
    expect(err.message).toMatch(/: fxdtb needs the device tree fx\/other.dtb, which kernel 6.1.0-1 does not have in usr\/lib\/modules\/6.1.0-1\/dtb$/);
    await expect(stat(join(root, 'nodtb.img'))).rejects.toThrow();
    await expect(stat(join(root, 'nodtb.img.partial'))).rejects.toThrow();
  }, 120_000);

  it('is the `ota image` command, printing the layout and a summary', async () => {
    const out: string[] = [];
    const code = await main(['node', 'ota', 'image', '--board', join(boardsDir, 'fxboard/board.yaml'), '--repo', join(fx.dir, 'repo'), '--ref', img.ref, '-o', join(root, 'cli.img'), '--size', '512MiB', '-q'], (l) => out.push(l));
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^ {2}1 boot +vfat +64 MiB at 1 MiB$/);
    expect(out[out.length - 1]).toMatch(/cli\.img: gpt 512 MiB, \d+ MiB of data \(block map .*cli\.img\.bmap\) in [\d.]+s$/);
    expect(await main(['node', 'ota', 'image', '--board', 'fxboard', '--repo', 'r', '--ref', 'x', '-o', 'y', '--size', 'big'], () => {})).toBe(2);
    const json: string[] = [];
    const args = ['--board', join(boardsDir, 'fxboard/board.yaml'), '--repo', join(fx.dir, 'repo'), '--ref', img.ref, '-o', join(root, 'json.img'), '--size', '512MiB', '--json'];
    expect(await main(['node', 'ota', 'image', ...args], (l) => json.push(l), { write: () => true })).toBe(0);
    expect(json).toHaveLength(1);
    expect(JSON.parse(json[0]!)).toMatchObject({
      output: join(root, 'json.img'),
      bmap: `${join(root, 'json.img')}.bmap`,
      table: 'gpt',
      totalBytes: 512 * 1024 ** 2,
      partitions: [{ number: 1, label: 'boot', fs: 'vfat', offsetBytes: 1024 ** 2, sizeBytes: 64 * 1024 ** 2 }, { number: 2 }],
      kargs: expect.arrayContaining([expect.stringMatching(/^root=UUID=/)]),
    });
  }, 120_000);

  it('provisions the agent in the deployment\'s /etc (docs/agent.md, "Provisioning by ota image"), and refuses bad input writing nothing', async () => {
    const pki = await makeTestPki();
    const key = await generateSigningKey();
    const jwks = join(root, 'release.pub.jwks');
    await writeFile(jwks, JSON.stringify({ keys: [key.publicJwk] }));
    await writeFile(join(root, 'password'), 'pw\n');
    await writeFile(join(root, 'provision.yaml'), `group: lab\nbroker: mqtts://broker.example.invalid:8883\nmqttCert: ${pki.clientCert}\nmqttKey: ${pki.clientKey}\nmqttPasswordFile: password\n`);
    const base = ['node', 'ota', 'image', '--board', join(boardsDir, 'fxboard/board.yaml'), '--repo', join(fx.dir, 'repo'), '--ref', img.ref, '--size', '512MiB'];
    const out = join(root, 'prov.img');
    const json: string[] = [];
    const args = [...base, '-o', out, '--provision', join(root, 'provision.yaml'), '--device-id', 'gw-7', '--remote', 'http://updates.example.invalid/fleet', '--trusted-keys', jwks, '--json'];
    expect(await main(args, (l) => json.push(l), { write: () => true })).toBe(0);
    const doc = JSON.parse(json[0]!) as { deployment: string; provisioned: Record<string, unknown>; partitions: { offsetBytes: number }[] };
    expect(doc.provisioned).toMatchObject({ deviceId: 'gw-7', group: 'lab', broker: 'mqtts://broker.example.invalid:8883', trustedKeys: [key.kid], mqtt: { clientCertificate: true, password: true } });
    expect(json[0]).not.toContain('pw\\n');
    const fsAt = `${out}?offset=${doc.partitions[1]!.offsetBytes}`;
    const etc = `/${doc.deployment}/etc/ota`;
    expect((await run('debugfs', ['debugfs', '-R', `stat ${etc}/mqtt/client.key`, fsAt])).stdout).toMatch(/Mode: +0600/);
    expect((await run('debugfs', ['debugfs', '-R', `stat ${etc}/agent.d/10-provision.yaml`, fsAt])).stdout).toMatch(/Mode: +0644/);
    // The files read back from the image (that the agent's loader takes such a layer: test/e2e/provision-agent.int.test.ts).
    const dev = join(root, 'device');
    await mkdir(dev, { recursive: true });
    await run('debugfs rdump', ['debugfs', '-R', `rdump ${etc} ${dev}`, fsAt]);
    expect(parseYaml(await readFile(join(dev, 'ota/agent.d/10-provision.yaml'), 'utf8'))).toEqual({
      deviceId: 'gw-7', group: 'lab', remote: 'http://updates.example.invalid/fleet', trustedKeys: '/etc/ota/release.pub.jwks',
      mqtt: { url: 'mqtts://broker.example.invalid:8883', certFile: '/etc/ota/mqtt/client.crt', keyFile: '/etc/ota/mqtt/client.key', passwordFile: '/etc/ota/mqtt/password' },
    });
    expect(await readFile(join(dev, 'ota/mqtt/client.key'))).toEqual(await readFile(pki.clientKey));
    expect(await readFile(join(dev, 'ota/mqtt/password'), 'utf8')).toBe('pw\n');
    expect(JSON.parse(await readFile(join(dev, 'ota/release.pub.jwks'), 'utf8'))).toEqual({ keys: [key.publicJwk] });

    const err: string[] = [];
    const bad = join(root, 'bad.img');
    expect(await main([...base, '-o', bad, '--trusted-keys', join(root, 'nope.jwks')], () => {}, { write: (t: string) => err.push(t) })).toBe(2);
    expect(err.join('')).toMatch(/--trusted-keys .*nope\.jwks/);
    await expect(stat(bad)).rejects.toThrow();
    await expect(stat(`${bad}.partial`)).rejects.toThrow();
    await rm(pki.dir, { recursive: true, force: true });
  }, 120_000);
});
