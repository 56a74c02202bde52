/**
 * The small text files of the agent's package (docs/agent.md, "Packaging"): its layer of the configuration, the
 * device's template, copyright, changelog and maintainer scripts. Pure functions of the package's facts.
 *
 * @example
 * packagedConfig('arm64'); // "arch: arm64\ndeviceId: { fromMachineId: true }\n" after its comments
 */

/** /usr/lib/ota/agent.yaml: what every device of this architecture shares (docs/agent.md, "Configuration"). */
export function packagedConfig(arch: string): string {
  return [
    '# ota-agent: the package\'s layer of the configuration. Replaced on every upgrade: do not edit.',
    '# Layers, each over the one before: built-in defaults < this file < /etc/ota/agent.yaml <',
    '# /etc/ota/agent.d/*.yaml in name order. `ota image` writes the board, the bootloader, the',
    '# remote, the broker and the group into /etc/ota/agent.d/; `ota-agent config` shows the result.',
    `arch: ${arch}`,
    '# One image serves many devices: the id is derived from /etc/machine-id unless a later layer names it.',
    'deviceId: { fromMachineId: true }',
    '',
  ].join('\n');
}

/** /etc/ota/agent.yaml, a conffile: comments only (an empty layer) until the device's owner edits it. */
export const DEVICE_CONFIG_TEMPLATE = [
  '# ota-agent: this device\'s own settings, over /usr/lib/ota/agent.yaml and under',
  '# /etc/ota/agent.d/*.yaml. Every key is optional here; `ota-agent config` shows the merged result.',
  '#',
  '# deviceId: gw-0001          # default: derived from /etc/machine-id',
  '# group: default',
  '# policy:',
  '#   reboot: auto             # or manual',
  '#   maintenanceWindow: { start: "22:00", end: "04:00" }   # UTC',
  '# health:',
  '#   requiredUnits: [my-app.service]',
  '',
].join('\n');

/** /usr/share/doc/ota-agent/copyright, machine-readable (DEP-5). */
export function copyrightText(): string {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: deb-ota',
    '',
    'Files: *',
    'Copyright: the deb-ota authors',
    'License: Apache-2.0',
    '',
    'Files: usr/bin/ota-agent',
    'Copyright: the deb-ota authors; Node.js contributors and the projects Node.js bundles;',
    ' Niels Martignène (koffi); the authors of mqtt.js, zod, yaml, commander, jose and undici',
    'License: Apache-2.0 and MIT and ISC',
    'Comment: the agent is one executable: Node.js (MIT, and the licenses its LICENSE file lists for',
    ' what it bundles), the agent bundled as one script with its npm dependencies (MIT; yaml: ISC),',
    ' and koffi\'s native module (MIT).',
    '',
    'License: Apache-2.0',
    ' On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.',
    '',
    'License: MIT',
    ' Permission is hereby granted, free of charge, to any person obtaining a copy of this software and',
    ' associated documentation files (the "Software"), to deal in the Software without restriction,',
    ' including without limitation the rights to use, copy, modify, merge, publish, distribute,',
    ' sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is',
    ' furnished to do so, subject to the following conditions:',
    ' .',
    ' The above copyright notice and this permission notice shall be included in all copies or',
    ' substantial portions of the Software.',
    ' .',
    ' THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT',
    ' NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND',
    ' NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES',
    ' OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN',
    ' CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.',
    '',
    'License: ISC',
    ' Permission to use, copy, modify, and/or distribute this software for any purpose with or without',
    ' fee is hereby granted, provided that the above copyright notice and this permission notice appear',
    ' in all copies.',
    ' .',
    ' THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS',
    ' SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE',
    ' AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES',
    ' WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT,',
    ' NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE',
    ' OF THIS SOFTWARE.',
    '',
  ].join('\n');
}

/** A native package's changelog (usr/share/doc/ota-agent/changelog.gz), one entry dated by SOURCE_DATE_EPOCH. */
export function changelogText(o: { version: string; maintainer: string; epochSeconds: number }): string {
  const date = new Date(o.epochSeconds * 1000).toUTCString().replace('GMT', '+0000');
  return `ota-agent (${o.version}) unstable; urgency=medium\n\n  * Built from deb-ota ${o.version}.\n\n -- ${o.maintainer}  ${date}\n`;
}

const UNIT = 'ota-agent.service';

/**
 * The maintainer scripts debhelper's dh_installsystemd writes, for one unit: enabled on install (also when
 * `ota build` configures packages inside the image, where no systemd runs), a running agent restarted on
 * upgrade, stopped on removal, forgotten on purge. deb-systemd-helper comes with init-system-helpers, which
 * is Essential.
 */
export const MAINTAINER_SCRIPTS: Readonly<Record<'postinst' | 'prerm' | 'postrm', string>> = {
  postinst: `#!/bin/sh
set -e
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
\tdeb-systemd-helper unmask '${UNIT}' >/dev/null || true
\tif deb-systemd-helper --quiet was-enabled '${UNIT}'; then
\t\tdeb-systemd-helper enable '${UNIT}' >/dev/null || true
\telse
\t\tdeb-systemd-helper update-state '${UNIT}' >/dev/null || true
\tfi
\tif [ -d /run/systemd/system ]; then
\t\tsystemctl --system daemon-reload >/dev/null || true
\t\tif [ -n "$2" ]; then action=restart; else action=start; fi
\t\tdeb-systemd-invoke "$action" '${UNIT}' >/dev/null || true
\tfi
fi
`,
  prerm: `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
\tdeb-systemd-invoke stop '${UNIT}' >/dev/null || true
fi
`,
  postrm: `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
\tsystemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = "remove" ] && [ -x "/usr/bin/deb-systemd-helper" ]; then
\tdeb-systemd-helper mask '${UNIT}' >/dev/null || true
fi
if [ "$1" = "purge" ] && [ -x "/usr/bin/deb-systemd-helper" ]; then
\tdeb-systemd-helper purge '${UNIT}' >/dev/null || true
\tdeb-systemd-helper unmask '${UNIT}' >/dev/null || true
fi
`,
};
