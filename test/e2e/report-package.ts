/**
 * What the e2e image carries to say on the console which deployment booted (`ota-e2e-report`:
 * a script and a systemd unit ordered after multi-user.target), and the initramfs of the update
 * that cannot boot.
 *
 * @example
 * await buildArchive(dir, [{ suite: 'e2e', arches: ['arm64'], components: { main: [REPORT_PACKAGE] } }], { key });
 */
import { newcArchive } from '../helpers/cpio.js';

/** What the report unit writes once multi-user.target is reached. */
export const MULTI_USER = /ota-e2e: multi-user$/m;
/** What it writes first: the checksum of the booted deployment. */
export const BOOTED = /ota-e2e: booted ([0-9a-f]{64})\b/m;

const REPORT_SCRIPT = `#!/bin/sh
# deb-ota e2e: tells the test harness on the console which OSTree deployment booted.
link=
for arg in $(cat /proc/cmdline); do
  case "$arg" in ostree=*) link=\${arg#ostree=} ;; esac
done
deployment=$(readlink -f "/sysroot$link" 2>/dev/null || readlink -f "$link" 2>/dev/null)
name=$(basename "$deployment")
{
  echo "ota-e2e: booted \${name%%.*} ($link -> $deployment)"
  echo "ota-e2e: multi-user"
} > /dev/console
`;

const REPORT_UNIT = `[Unit]
Description=deb-ota e2e: report the booted OSTree deployment on the console
# Ordered after the target that wants it: without default dependencies the target adds no
# After= on this unit, so there is no ordering cycle.
DefaultDependencies=no
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/libexec/ota-e2e-report

[Install]
WantedBy=multi-user.target
`;

/** The report package: a script, its unit, and the unit's wants link (no maintainer scripts). */
export const REPORT_PACKAGE = {
  name: 'ota-e2e-report',
  version: '1.0',
  arch: 'all',
  priority: 'optional',
  description: 'deb-ota e2e: report the booted OSTree deployment on the console',
  files: {
    '/usr/libexec/ota-e2e-report': REPORT_SCRIPT,
    '/usr/lib/systemd/system/ota-e2e-report.service': REPORT_UNIT,
  },
  modes: { '/usr/libexec/ota-e2e-report': 0o755 },
  symlinks: { '/usr/lib/systemd/system/multi-user.target.wants/ota-e2e-report.service': '../ota-e2e-report.service' },
};

/**
 * A valid uncompressed initramfs (cpio "newc") holding only /init, a mode 0755 file that is not
 * an executable: the kernel unpacks it, fails to run /init (ENOEXEC), finds no other init and
 * panics "No working init found".
 */
export function brokenInitramfs(): Buffer {
  const out = newcArchive([{ name: 'init', mode: 0o100755, data: 'this initramfs is broken on purpose (deb-ota e2e): /init is not a program\n' }]);
  return Buffer.concat([out, Buffer.alloc((512 - (out.length % 512)) % 512)]);
}
