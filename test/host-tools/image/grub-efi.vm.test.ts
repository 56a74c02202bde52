import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { loadBoard } from '../../../host-tools/board/load.js';
import { build, type ImageBuild } from '../../../host-tools/build/build.js';
import { makeImage, type ImageResult } from '../../../host-tools/image/disk-image.js';

// Issue 5's proof for GRUB EFI boards: a real amd64 image (minbase + systemd-sysv, Debian's
// kernel, dracut with the ostree module, grub-efi-amd64-bin) built for x86_64-efi, made into a
// disk by `ota image`, booted under qemu-system-x86_64 (q35, TCG) with the host's OVMF and no
// NVRAM entries until the serial console shows a login prompt. About 2 minutes here with the debs
// cached (build 1 min, boot 40-60 s); OTA_E2E_WORK=DIR keeps the work directory.
// eslint-disable-next-line no-control-regex -- systemd colours its status lines
const ANSI = /\x1b\[[0-9;?=]*[A-Za-z]/g;
const LOGIN = /^\S+ login: /m;

describe('a GRUB EFI disk from ota image boots under OVMF', () => {
  let work: string;
  let img: ImageBuild;
  let disk: ImageResult;
  let grubenvBefore: Buffer;
  let boot: { console: string; seconds: number };

  beforeAll(async () => {
    work = process.env.OTA_E2E_WORK ?? (await mkdtemp('/tmp/ota-vm-efi-'));
    const log = (l: string) => process.stderr.write(`${l}\n`);
    const manifest = join(work, 'image.yaml');
    await writeFile(manifest, ['name: e2e-efi', 'arch: amd64', 'board: x86_64-efi', 'sources:', '  - uri: host', 'variant: minbase', 'packages: [systemd-sysv]', ''].join('\n'));
    let t = Date.now();
    img = (await build({ inputs: [manifest], repoPath: join(work, 'repo') })).images[0]!;
    log(`grub-efi vm: built ${img.ref} ${img.checksum.slice(0, 12)} in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    t = Date.now();
    disk = await makeImage({ board: 'x86_64-efi', repoPath: join(work, 'repo'), ref: img.ref, output: join(work, 'disk.img') });
    log(`grub-efi vm: disk image in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    grubenvBefore = await grubenv(disk);
    boot = await bootUntilLogin(disk, join(work, 'console.log'), 5 * 60_000);
    log(`grub-efi vm: login prompt after ${boot.seconds.toFixed(1)}s`);
  });
  afterAll(async () => {
    if (work && !process.env.OTA_E2E_WORK) await rm(work, { recursive: true, force: true });
  });

  it('OVMF starts EFI/BOOT/BOOTX64.EFI from the disk, and GRUB runs the generated grub.cfg without an error', () => {
    expect(boot.console).toMatch(/BdsDxe: starting Boot\d+ /);
    expect(boot.console).toContain('Welcome to GRUB!');
    expect(boot.console).toContain('deb-ota: bootcount=0 bootlimit=3 upgrade_available=0 rollback=0');
    expect(boot.console).toMatch(/Booting `Debian GNU\/Linux 12 \(bookworm\) .* \(ostree:0\)'/);
    expect(boot.console).not.toMatch(/Unknown command|^error: /m);
  });

  it("boots OSTree's entry for the deployment with the kernel arguments ota image set", () => {
    const line = /Kernel command line: (.*)$/m.exec(boot.console)?.[1];
    expect(line).toMatch(new RegExp(`^BOOT_IMAGE=/boot/ostree/e2e-efi-[0-9a-f]{64}/vmlinuz-${img.kernels[0]} ${disk.kargs.join(' ')} ostree=/ostree/boot\\.1/e2e-efi/[0-9a-f]{64}/0$`));
  });

  it("reaches a login prompt on the board's serial console through dracut's ostree-prepare-root", () => {
    expect(boot.console).toMatch(/Finished .*OSTree Prepare OS\//);
    expect(boot.console).toMatch(/Reached target .*Multi-User System/);
    expect(boot.console).toMatch(LOGIN);
  });

  it('counts nothing on an ordinary boot: the grubenv is as ota image wrote it', async () => {
    expect(await grubenv(disk)).toEqual(grubenvBefore);
  });
});

const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

async function grubenv(disk: ImageResult): Promise<Buffer> {
  const esp = disk.plan.partitions.find((p) => p.role === 'esp')!;
  return (await run('read the grubenv', ['mcopy', '-i', `${disk.output}@@${esp.offsetBytes}`, '::/EFI/ota/grubenv', '-'], { env: MTOOLS_ENV, binary: true })).stdout;
}

/** One boot with the board's qemu settings, stopped at the login prompt; a hung boot is killed and fails with the console's end. */
async function bootUntilLogin(disk: ImageResult, log: string, timeoutMs: number): Promise<{ console: string; seconds: number }> {
  const q = (await loadBoard('x86_64-efi')).board.qemu!;
  await writeFile(log, '');
  const argv = [
    q.system, '-M', q.machine, '-smp', '2', '-m', String(q.memoryMiB),
    '-display', 'none', '-monitor', 'none', '-serial', `file:${log}`, '-no-reboot', '-nic', 'none',
    '-bios', q.firmware, '-drive', `file=${disk.output},format=raw,if=virtio`,
  ];
  const stop = new AbortController();
  const t0 = Date.now();
  let why: 'login' | 'timeout' | undefined;
  const poll = setInterval(() => {
    void readFile(log, 'utf8').then((text) => {
      if (!why && LOGIN.test(text.replace(ANSI, ''))) {
        why = 'login';
        stop.abort();
      }
    });
  }, 500);
  const timer = setTimeout(() => {
    why ??= 'timeout';
    stop.abort();
  }, timeoutMs);
  try {
    await run('boot the disk under qemu-system-x86_64 with OVMF', argv, { signal: stop.signal }).catch((e: unknown) => {
      if (!stop.signal.aborted) throw e;
    });
  } finally {
    clearInterval(poll);
    clearTimeout(timer);
  }
  const consoleText = (await readFile(log, 'utf8')).replace(/\r/g, '').replace(ANSI, '');
  if (why !== 'login') throw new Error(`no login prompt ${why === 'timeout' ? `within ${timeoutMs / 1000} s (qemu killed)` : '(qemu exited)'}; the console ended with:\n${consoleText.trim().split('\n').slice(-30).join('\n')}`);
  return { console: consoleText, seconds: (Date.now() - t0) / 1000 };
}
