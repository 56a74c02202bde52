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

/** What the memory unit writes once a minute: the relay's pid, VmRSS, RssAnon, RssFile (kB) and the uptime (s). */
export const AGENT_RSS = /ota-e2e: agent (\d+) VmRSS: (\d+) kB RssAnon: (\d+) kB RssFile: (\d+) kB uptime (\d+)/g;

// The relay's resident memory on the booted board, the figure docs/agent.md, "Footprint of the relay"
// measures on x86_64: its process is the one whose command line ends in `daemon` (the unit's ExecStart).
const RSS_SCRIPT = `#!/bin/sh
# deb-ota e2e: the agent relay's resident memory on the console once a minute.
while :; do
  sleep 60
  for d in /proc/[0-9]*; do
    if tr '\\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q '^/usr/bin/ota-agent .*daemon $'; then
      rss=$(grep -E '^(VmRSS|RssAnon|RssFile):' "$d/status" | tr -s ' \\t\\n' ' ')
      echo "ota-e2e: agent \${d#/proc/} \${rss}uptime $(cut -d. -f1 /proc/uptime)" > /dev/console
    fi
  done
done
`;

const RSS_UNIT = `[Unit]
Description=deb-ota e2e: the agent relay's resident memory on the console
After=ota-agent.service

[Service]
Type=simple
ExecStart=/usr/libexec/ota-e2e-rss

[Install]
WantedBy=multi-user.target
`;

/** The report package: two scripts, their units, and the units' wants links (no maintainer scripts). */
export const REPORT_PACKAGE = {
  name: 'ota-e2e-report',
  version: '1.0',
  arch: 'all',
  priority: 'optional',
  description: 'deb-ota e2e: report the booted OSTree deployment on the console',
  files: {
    '/usr/libexec/ota-e2e-report': REPORT_SCRIPT,
    '/usr/lib/systemd/system/ota-e2e-report.service': REPORT_UNIT,
    '/usr/libexec/ota-e2e-rss': RSS_SCRIPT,
    '/usr/lib/systemd/system/ota-e2e-rss.service': RSS_UNIT,
  },
  modes: { '/usr/libexec/ota-e2e-report': 0o755, '/usr/libexec/ota-e2e-rss': 0o755 },
  symlinks: {
    '/usr/lib/systemd/system/multi-user.target.wants/ota-e2e-report.service': '../ota-e2e-report.service',
    '/usr/lib/systemd/system/multi-user.target.wants/ota-e2e-rss.service': '../ota-e2e-rss.service',
  },
};

/**
 * Units a headless test board never needs, masked (links to /dev/null in /etc/systemd/system): the
 * login prompts on six virtual terminals and the serial console, and the timers and the ext4
 * scrub a long-lived device runs. Under TCG each costs seconds of the two emulated CPUs that every
 * boot to the agent waits on; nothing the proofs read comes from them.
 */
export const LEAN_PACKAGE = {
  name: 'ota-e2e-lean',
  version: '1.0',
  arch: 'all',
  priority: 'optional',
  description: 'deb-ota e2e: mask the units a headless test board does not need',
  files: {},
  symlinks: Object.fromEntries([
    'getty@.service', 'serial-getty@.service', 'getty-static.service', 'e2scrub_reap.service',
    'e2scrub_all.timer', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer', 'fstrim.timer',
  ].map((u) => [`/etc/systemd/system/${u}`, '/dev/null'])),
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
