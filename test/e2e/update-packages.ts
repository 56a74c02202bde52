/**
 * The local packages of the update proof (update-scenario.ts), beside the agent's own .deb and
 * `ota-e2e-report` (report-package.ts): the guest's network, and the application whose versions
 * make releases B and C.
 *
 * - `ota-e2e-net`: systemd-networkd, enabled, with a static address on qemu's user network
 *   (10.0.2.15/24). The host is reachable only at the guestfwd address (update-device.ts).
 * - `ota-e2e-app` 1.0 (in A) and 1.1 (B: the one package bumped).
 *
 * And the required health check that fails, which C adds to B (in the agent's
 * /etc/ota/health/required.d, as /usr/etc in the commit: OSTree merges it into the new /etc).
 *
 * @example
 * await buildArchive(dir, [{ suite: 'e2e', arches: ['arm64'], components: { main: [REPORT_PACKAGE, NET_PACKAGE, ...APP_PACKAGES] } }], { key });
 */

/** The address the guest has on qemu's user network. */
export const GUEST_ADDRESS = '10.0.2.15';

const NETWORK = `# deb-ota e2e: qemu's user network, static (no DHCP wait); the host only at its guestfwd address
[Match]
Name=e*

[Network]
Address=${GUEST_ADDRESS}/24
`;

export const NET_PACKAGE = {
  name: 'ota-e2e-net',
  version: '1.0',
  arch: 'all',
  priority: 'optional',
  description: "deb-ota e2e: systemd-networkd with a static address on qemu's user network",
  files: { '/usr/lib/systemd/network/80-ota-e2e.network': NETWORK },
  symlinks: { '/usr/lib/systemd/system/multi-user.target.wants/systemd-networkd.service': '../systemd-networkd.service' },
};

/** What the failing check writes last: the reason the agent reports. */
export const FAILING_CHECK_LINE = 'ota-e2e-app: its service does not answer (broken on purpose)';

/** Where C has it in the commit. */
export const FAILING_CHECK_PATH = 'usr/etc/ota/health/required.d/50-ota-e2e-app';

export const FAILING_CHECK = `#!/bin/sh
# deb-ota e2e: release C's required health check, which fails
echo "${FAILING_CHECK_LINE}" >&2
exit 1
`;

const app = (version: string) => ({
  name: 'ota-e2e-app',
  version,
  arch: 'all',
  priority: 'optional',
  description: 'deb-ota e2e: the application whose versions make the releases',
  files: { '/usr/share/ota-e2e-app/version': `${version}\n` },
});

/** 1.0 (A), 1.1 (B). */
export const APP_PACKAGES = [app('1.0'), app('1.1')];
