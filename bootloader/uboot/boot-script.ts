/**
 * The U-Boot boot script (`boot.cmd`, compiled to `boot.scr` by mkimage.ts) that boots OSTree's
 * entries and counts boots as meta-updater does, with the commands Debian's U-Boot builds have
 * (no `bootcount`, no working `saveenv` on the qemu board; docs/platform-facts.md, "U-Boot"):
 *
 * 1. load OSTree's /boot/loader/uEnv.txt from the root partition with `ext4load` (/boot needs
 *    symlinks, so it lives on ext4; OSTree's `/boot/boot -> .` link makes the same paths work on
 *    a separate /boot partition);
 * 2. load the state from `ota.env` on the vfat boot partition (`fatload` + `env import -t`, only
 *    the four state variables), or from its backup `ota.bak` when `ota.env` is cut off
 *    (env-copies.ts: a power cut during a write);
 * 3. only while `upgrade_available=1`: bootcount+1, and past `bootlimit` set `rollback=1
 *    upgrade_available=0`; written back to both copies, one after the other, with `env export -t`
 *    + `fatwrite` BEFORE booting, so a kernel that hangs or panics has already been counted;
 * 4. boot entry 1 (`kernel_image2`, ...) while `rollback=1`, else entry 0 (`kernel_image`, ...);
 *    only if its files cannot be loaded at all, the other entry in the same boot (GRUB's
 *    `fallback`), which changes no state: the agent sees which deployment booted;
 * 5. if `booti` returns (a kernel U-Boot loaded but cannot start), `reset`: the next boot counts
 *    again while an update is pending.
 *
 * Numbers are compared as decimal strings and incremented by explicit comparisons, because
 * U-Boot's `setexpr` and `itest` are hexadecimal (`setexpr x 9 + 1` gives `a`) and `ota.env` is
 * read by Linux as decimal (state.ts `MAX_BOOTCOUNT`). Device and partition numbers are U-Boot's,
 * which are hexadecimal: `0:a` is partition 10. state.ts `nextBoot` is the same logic as data.
 *
 * @example
 * const cmd = renderUbootBootScript({ arch: 'arm64', device: { interface: 'virtio', boot: '0:1', root: '0:2' } });
 * await writeFile('boot.scr', await compileUbootBootScript(cmd, 'arm64'));
 */
import { OtaError } from '../../common/errors.js';
import { DEFAULT_BOOTLIMIT, MAX_BOOTCOUNT, MAX_BOOTLIMIT } from '../state.js';
import { BOOT_STATE_VARS } from '../state-vars.js';
import { backupEnvPath } from './env-copies.js';

export interface UbootBootScriptOptions {
  /** Debian architecture of the board: `booti` for arm64, `bootz` for armhf. */
  arch: 'arm64' | 'armhf';
  /** U-Boot's names for the partitions (board.yaml `bootloader.device`): vfat boot with ota.env, ext4 root with OSTree's /boot. */
  device: { interface: string; boot: string; root: string };
  /** The state file on the boot partition (default `ota.env`). */
  envFile?: string;
  /** The bootlimit used when ota.env has none or a bad one (default 3). */
  defaultBootlimit?: number;
  /** Load addresses (defaults: distro boot's `${kernel_addr_r}`, `${ramdisk_addr_r}`, `${fdt_addr_r}`). */
  kernelAddr?: string;
  ramdiskAddr?: string;
  fdtAddr?: string;
}

const OSTREE_VARS = ['kernel_image', 'ramdisk_image', 'bootargs', 'fdt_file', 'fdtdir'] as const;

function bad(what: string, hint: string): OtaError {
  return new OtaError('ERR_OTA_BOOTLOADER', `U-Boot boot script: ${what}`, { hint });
}

function check(o: UbootBootScriptOptions): Required<UbootBootScriptOptions> {
  const full = {
    envFile: 'ota.env',
    defaultBootlimit: DEFAULT_BOOTLIMIT,
    kernelAddr: '${kernel_addr_r}',
    ramdiskAddr: '${ramdisk_addr_r}',
    fdtAddr: '${fdt_addr_r}',
    ...o,
  };
  if (full.arch !== 'arm64' && full.arch !== 'armhf') throw bad(`expected arch arm64 or armhf, got ${JSON.stringify(full.arch)}`, 'U-Boot boots arm64 kernels with booti and armhf ones with bootz');
  if (!/^[a-z][a-z0-9_]*$/.test(full.device.interface)) throw bad(`expected an interface name such as mmc or virtio, got ${JSON.stringify(full.device.interface)}`, 'as in `fatload mmc 0:1`');
  for (const [name, part] of [['boot', full.device.boot], ['root', full.device.root]] as const) {
    if (!/^[0-9a-f]+:[0-9a-f]+$/i.test(part)) throw bad(`expected the ${name} partition as device:partition (hexadecimal), got ${JSON.stringify(part)}`, 'for example 0:1; U-Boot reads both numbers as hexadecimal');
  }
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(full.envFile) || full.envFile.split('/').includes('..')) {
    throw bad(`expected a relative path of letters, digits, ".", "_" and "-" for the env file, got ${JSON.stringify(full.envFile)}`, 'the default is ota.env in the root of the boot partition');
  }
  if (!Number.isInteger(full.defaultBootlimit) || full.defaultBootlimit < 1 || full.defaultBootlimit > MAX_BOOTLIMIT) {
    throw bad(`expected defaultBootlimit to be an integer from 1 to ${MAX_BOOTLIMIT}, got ${JSON.stringify(full.defaultBootlimit)}`, 'meta-updater uses 3');
  }
  for (const addr of [full.kernelAddr, full.ramdiskAddr, full.fdtAddr]) {
    if (!/^(\$\{[a-z_]+\}|0x[0-9a-f]+)$/i.test(addr)) throw bad(`expected a load address such as 0x40400000 or \${kernel_addr_r}, got ${JSON.stringify(addr)}`, 'use the board\'s distro boot addresses');
  }
  return full;
}

/** The boot.cmd text for the board; throws an OtaError for options U-Boot could not use. */
export function renderUbootBootScript(options: UbootBootScriptOptions): string {
  const o = check(options);
  const { interface: dev } = o.device;
  const boot = `${dev} ${o.device.boot}`;
  const root = `${dev} ${o.device.root}`;
  const bootCmd = o.arch === 'arm64' ? 'booti' : 'bootz';
  const backup = backupEnvPath(o.envFile);
  const limits = Array.from({ length: MAX_BOOTLIMIT }, (_, i) => String(i + 1)).join(' ');
  const count = Array.from({ length: MAX_BOOTCOUNT - 1 }, (_, i) => `  ${i === 0 ? 'if' : 'elif'} test "\${bootcount}" = ${i}; then setenv bootcount ${i + 1}`);
  const pick = (suffix: string) => OSTREE_VARS.map((v) => `    setenv ota_${v} "\${${v}${suffix}}"`);
  return [
    `# deb-ota boot script, generated by bootloader/uboot/boot-script.ts: do not edit.`,
    `# Boots OSTree's entries from ${root} and counts boots in ${o.envFile} on ${boot}`,
    `# while upgrade_available=1 (meta-updater's scheme; see the generator for why it looks like this).`,
    `echo "ota: deb-ota boot script"`,
    `setenv ota_addr ${o.kernelAddr}`,
    ``,
    `# OSTree's entries (uEnv.txt also carries what the deployment's /usr/lib/ostree-boot/uEnv.txt adds).`,
    ...[...OSTREE_VARS, ...OSTREE_VARS.map((v) => `${v}2`)].map((v) => `setenv ${v}`),
    `if ext4load ${root} \${ota_addr} /boot/loader/uEnv.txt; then`,
    `  env import -t \${ota_addr} \${filesize}`,
    `else`,
    `  echo "ota: cannot read /boot/loader/uEnv.txt on ${root}"`,
    `fi`,
    ``,
    `# Boot-counting state: only these four variables, whatever else the file holds, from the first`,
    `# whole copy (upgrade_available 0 or 1: it is written last), else the primary as it is.`,
    `setenv ota_state 0`,
    `for ota_file in ${o.envFile} ${backup}; do`,
    `  if test "\${ota_state}" = 0 && fatload ${boot} \${ota_addr} \${ota_file}; then`,
    ...BOOT_STATE_VARS.map((v) => `    setenv ${v}`),
    `    env import -t \${ota_addr} \${filesize} ${BOOT_STATE_VARS.join(' ')}`,
    `    if test "\${upgrade_available}" = 0 || test "\${upgrade_available}" = 1; then setenv ota_state 1; else echo "ota: \${ota_file} on ${boot} is cut off or damaged"; fi`,
    `  fi`,
    `done`,
    `if test "\${ota_state}" = 0; then`,
    ...BOOT_STATE_VARS.map((v) => `  setenv ${v}`),
    `  if fatload ${boot} \${ota_addr} ${o.envFile}; then`,
    `    env import -t \${ota_addr} \${filesize} ${BOOT_STATE_VARS.join(' ')}`,
    `  else`,
    `    echo "ota: no ${o.envFile} on ${boot}: no update pending"`,
    `  fi`,
    `fi`,
    `if test -z "\${bootcount}"; then setenv bootcount 0; fi`,
    `if test -z "\${upgrade_available}"; then setenv upgrade_available 0; fi`,
    `if test -z "\${rollback}"; then setenv rollback 0; fi`,
    `setenv ota_ok 0`,
    `for n in ${limits}; do if test "\${bootlimit}" = "\${n}"; then setenv ota_ok 1; fi; done`,
    `if test "\${ota_ok}" != 1; then echo "ota: bootlimit \${bootlimit} is not 1 to ${MAX_BOOTLIMIT}, using ${o.defaultBootlimit}"; setenv bootlimit ${o.defaultBootlimit}; fi`,
    `echo "ota: bootcount=\${bootcount} bootlimit=\${bootlimit} upgrade_available=\${upgrade_available} rollback=\${rollback}"`,
    ``,
    `# Count only while an update is pending, and save before booting.`,
    `if test "\${upgrade_available}" = 1; then`,
    ...count,
    `  else setenv bootcount ${MAX_BOOTCOUNT}`,
    `  fi`,
    `  if test \${bootcount} -gt \${bootlimit}; then`,
    `    echo "ota: boot \${bootcount} is past bootlimit \${bootlimit}: falling back to the previous deployment"`,
    `    setenv rollback 1`,
    `    setenv upgrade_available 0`,
    `  fi`,
    `  env export -t \${ota_addr} ${BOOT_STATE_VARS.join(' ')}`,
    `  setenv ota_size \${filesize}`,
    `  fatwrite ${boot} \${ota_addr} ${o.envFile} \${ota_size} || echo "ota: WARNING: cannot write ${o.envFile}: this boot is not counted"`,
    `  fatwrite ${boot} \${ota_addr} ${backup} \${ota_size} || echo "ota: WARNING: cannot write ${backup}"`,
    `fi`,
    ``,
    `# Entry 1 (the previous deployment) while rolled back, else entry 0 (OSTree's default); the`,
    `# other one only if the first cannot even be loaded (as GRUB's fallback does), never on a reset.`,
    `setenv ota_order 0`,
    `if test -n "\${kernel_image2}"; then`,
    `  if test "\${rollback}" = 1; then setenv ota_order "1 0"; else setenv ota_order "0 1"; fi`,
    `fi`,
    `for ota_entry in \${ota_order}; do`,
    `  if test "\${ota_entry}" = 1; then`,
    ...pick('2'),
    `  else`,
    ...pick(''),
    `  fi`,
    `  echo "ota: booting OSTree entry \${ota_entry}: \${ota_kernel_image}"`,
    `  setenv ota_rd -`,
    `  setenv ota_fdt \${fdtcontroladdr}`,
    `  setenv ota_ready 1`,
    `  if test -n "\${ota_ramdisk_image}"; then`,
    `    ext4load ${root} ${o.ramdiskAddr} \${ota_ramdisk_image} && setenv ota_rd ${o.ramdiskAddr}:\${filesize} || setenv ota_ready 0`,
    `  fi`,
    `  if test -n "\${ota_fdt_file}"; then`,
    `    ext4load ${root} ${o.fdtAddr} \${ota_fdt_file} && setenv ota_fdt ${o.fdtAddr} || setenv ota_ready 0`,
    `  elif test -n "\${ota_fdtdir}" && test -n "\${fdtfile}"; then`,
    `    ext4load ${root} ${o.fdtAddr} \${ota_fdtdir}/\${fdtfile} && setenv ota_fdt ${o.fdtAddr} || setenv ota_ready 0`,
    `  fi`,
    `  if test "\${ota_ready}" = 1 && ext4load ${root} ${o.kernelAddr} \${ota_kernel_image}; then`,
    `    setenv bootargs "\${ota_bootargs}"`,
    `    ${bootCmd} ${o.kernelAddr} \${ota_rd} \${ota_fdt}`,
    `    echo "ota: OSTree entry \${ota_entry} did not boot; resetting"`,
    `    reset`,
    `  fi`,
    `  echo "ota: cannot load OSTree entry \${ota_entry} from ${root}"`,
    `done`,
    `echo "ota: no OSTree entry could be loaded; resetting"`,
    `reset`,
    ``,
  ].join('\n');
}
