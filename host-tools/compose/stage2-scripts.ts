import { shellQuote } from '../../common/argv.js';

/**
 * The two shell scripts of stage 2, as data (docs/conventions.md, "Plan as data"): `namespaceScript` runs with the host's
 * /bin/sh inside a fresh mount, network and PID namespace (so every mount and every process it
 * starts dies with it) and prepares the chroot; `chrootScript` runs with the image's own /bin/sh
 * inside it (through qemu-user for a foreign architecture) and does what dpkg's unpack would have
 * done before `dpkg --configure -a`.
 *
 * The build root is seen through `rofiles-fuse --copyup`: its files are hardlinks to repository
 * objects, and a maintainer script that writes into one in place gets a private copy instead of
 * corrupting the object every other commit shares.
 *
 * @example
 * run('configure', ['unshare', '--mount', '--net', '--pid', '--fork', 'sh', '-c', namespaceScript(), 'sh', root, mnt, inner, interp, bindAt]);
 */

/** Marker lines the chroot script prints so that the caller can name what failed. */
export const MARK = 'ota-stage2:';

/**
 * Arguments: $1 build root (the overlay's lower directory), $2 mount point, $3 payload directory
 * (chroot script and shims), $4 interpreter to bind, $5 where to bind it (or ''), $6 overlay
 * upper directory, $7 overlay work directory, $8 the payload's script to run. Where overlayfs cannot be mounted, rofiles-fuse
 * --copyup gives the same protection, slower.
 */
export function namespaceScript(env: Record<string, string>): string {
  const envArgs = Object.entries(env)
    .map(([k, v]) => `${k}=${shellQuote(v)}`)
    .join(' ');
  return `set -eu
root=$1 mnt=$2 payload=$3 interp=$4 bindat=$5 upper=$6 ovwork=$7 script=$8
mount --make-rprivate /
if mount -t overlay overlay -o "lowerdir=$root,upperdir=$upper,workdir=$ovwork,redirect_dir=off,metacopy=off" "$mnt" 2>/dev/null; then
  echo "${MARK} overlay"
else
  rofiles-fuse --copyup "$root" "$mnt"
  echo "${MARK} rofiles-fuse"
fi
for d in proc dev run sys; do [ -d "$mnt/$d" ] || mkdir -m 0755 "$mnt/$d"; done
[ -d "$mnt/tmp" ] || mkdir -m 1777 "$mnt/tmp"
mount -t proc proc "$mnt/proc"
mount -t tmpfs -o mode=0755 tmpfs "$mnt/dev"
for n in null zero full random urandom tty; do : > "$mnt/dev/$n"; mount --bind "/dev/$n" "$mnt/dev/$n"; done
ln -s /proc/self/fd "$mnt/dev/fd"
mkdir -m 1777 "$mnt/dev/shm"
mount -t tmpfs -o mode=0755 tmpfs "$mnt/run"
mount -t tmpfs -o mode=1777 tmpfs "$mnt/tmp"
if [ -n "$bindat" ]; then mkdir -p "$mnt\${bindat%/*}"; : > "$mnt$bindat"; mount --bind "$interp" "$mnt$bindat"; fi
cp -R "$payload" "$mnt/tmp/ota-stage2"
chroot "$mnt" /usr/bin/env -i ${envArgs} /bin/sh "/tmp/ota-stage2/$script"
`;
}

/** Where the payload appears inside the chroot; its bin/ goes first on PATH. */
export const PAYLOAD_IN_CHROOT = '/tmp/ota-stage2';

/**
 * A stand-in for dpkg-maintscript-helper that answers its four file commands itself when they
 * are no-ops, which they always are on a first install: by dpkg-maintscript-helper(1) (and its
 * code) they act in preinst only when upgrading from a version ($2), and in postinst only on an
 * upgrade or on a `.dpkg-backup` an upgrade left. Everything else goes to the real helper. Each
 * call it answers saves three emulated processes (the helper, basename, dpkg --validate-version).
 */
export function maintscriptHelperShim(real = '/usr/bin/dpkg-maintscript-helper'): string {
  return `#!/bin/sh
noop() {
  case "$1" in rm_conffile|mv_conffile|symlink_to_dir|dir_to_symlink) ;; *) return 1 ;; esac
  p=\${2%/}
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
  [ $# -gt 0 ] || return 1
  shift
  [ -z "\${2:-}" ] || return 1
  [ ! -e "$p.dpkg-backup" ] && [ ! -h "$p.dpkg-backup" ] || return 1
  case "\${DPKG_MAINTSCRIPT_NAME:-}:\${1:-}" in preinst:install|postinst:configure) return 0 ;; esac
  return 1
}
noop "$@" && exit 0
exec ${real} "$@"
`;
}

export interface Preinst {
  /** dpkg's name for it: `pkg` or `pkg:arch` for Multi-Arch: same. */
  package: string;
  arch: string;
  /** Path inside the image. */
  path: string;
}

/**
 * Phase 1 in the chroot: seeds /etc/passwd and /etc/group from base-passwd's masters (as
 * debootstrap does: base-files' postinst needs user names before base-passwd is configured),
 * denies service starts, and runs every preinst with `install` (dash's first), as dpkg's unpack
 * would have. The build then fixes up any diversion they added before phase 2.
 */
export function preinstScript(preinsts: Preinst[], dpkgVersion: string): string {
  const ordered = [...preinsts.filter((p) => p.package.split(':')[0] === 'dash'), ...preinsts.filter((p) => p.package.split(':')[0] !== 'dash')];
  const lines = ordered.map((p) => `run_preinst ${shellQuote(p.package)} ${shellQuote(p.arch)} ${shellQuote(p.path)}`);
  return `set -u
[ -e /etc/passwd ] || { [ -f /usr/share/base-passwd/passwd.master ] && cp /usr/share/base-passwd/passwd.master /etc/passwd; }
[ -e /etc/group ] || { [ -f /usr/share/base-passwd/group.master ] && cp /usr/share/base-passwd/group.master /etc/group; }
printf '#!/bin/sh\\n# ota build: no service starts while building an image\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
run_preinst() {
  DPKG_MAINTSCRIPT_PACKAGE=\${1%%:*} DPKG_MAINTSCRIPT_ARCH=$2 DPKG_MAINTSCRIPT_NAME=preinst DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \\
    DPKG_RUNNING_VERSION=${shellQuote(dpkgVersion)} DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= "$3" install
  rc=$?
  if [ $rc -ne 0 ]; then echo "${MARK} preinst $1 $rc" >&2; exit 97; fi
}
${lines.join('\n')}
exit 0
`;
}

/**
 * Phase 2 in the chroot: `dpkg --configure -a` (postinsts and triggers), then the `after`
 * commands (each must succeed), then service starts are allowed again.
 */
export function configureScript(after: string[] = []): string {
  const steps = after.map((c) => `if ! ( ${c} ); then echo "${MARK} after" ${shellQuote(c)} >&2; rm -f /usr/sbin/policy-rc.d; exit 99; fi`);
  return `set -u
dpkg --force-confdef --force-confold --configure -a
rc=$?
if [ $rc -ne 0 ]; then rm -f /usr/sbin/policy-rc.d; echo "${MARK} configure $rc" >&2; exit 98; fi
${steps.join('\n')}
rm -f /usr/sbin/policy-rc.d
exit 0
`;
}

export interface ScriptFailure {
  package: string;
  script: string;
  status?: number;
  /** A command of the build's own (after configuring) that failed. */
  command?: string;
}

/**
 * Names the package and script that failed from stage 2's output: our own preinst marker, or
 * dpkg's "error processing package X (--configure)" followed by its "... script subprocess
 * returned error exit status N" line.
 */
export function parseFailure(output: string): ScriptFailure | undefined {
  const after = new RegExp(`^${MARK} after (.+)$`, 'm').exec(output);
  if (after) return { package: '', script: 'after', command: after[1]!.replace(/^'(.*)'$/, '$1').replace(/'\\''/g, "'") };
  const pre = new RegExp(`^${MARK} preinst (\\S+) (\\d+)$`, 'm').exec(output);
  if (pre) return { package: pre[1]!, script: 'preinst', status: Number(pre[2]) };
  const dpkg = /dpkg: error processing package (\S+) \(--configure\):\n\s*(.*)/.exec(output);
  if (!dpkg) return undefined;
  const detail = dpkg[2]!;
  const script = /post-installation/.test(detail) ? 'postinst' : /pre-installation/.test(detail) ? 'preinst' : /triggers/.test(detail) ? 'trigger' : 'configure';
  const status = /exit status (\d+)/.exec(detail);
  return { package: dpkg[1]!, script, status: status ? Number(status[1]) : undefined };
}

