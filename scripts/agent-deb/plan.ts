import { gzipSync } from 'node:zlib';
import { OtaError } from '../../common/errors.js';
import { FALLBACK_LINKED, RUNTIME_DEPENDS } from './elf.js';
import { agentUnit } from './unit.js';
import { changelogText, copyrightText, DEVICE_CONFIG_TEMPLATE, MAINTAINER_SCRIPTS, packagedConfig } from './texts.js';

/**
 * What the agent's .deb holds, as data (docs/conventions.md, "Plan as data"; docs/agent.md, "Packaging"): the
 * control fields, every file and folder with its mode, the conffiles and the maintainer scripts. build.ts
 * writes it and runs dpkg-deb; everything it decides is here and unit-tested without a disk.
 *
 * @example
 * const plan = agentDebPlan({ arch: 'arm64', version: '0.1.0', binaryBytes: 9e7, epochSeconds: 1.7e9, nodeOptions: null });
 * plan.fileName; // 'ota-agent_0.1.0_arm64.deb'
 */
export const AGENT_ARCHES = ['amd64', 'arm64', 'armhf'] as const;
export type AgentArch = (typeof AGENT_ARCHES)[number];

export const PACKAGE = 'ota-agent';
export const DEFAULT_MAINTAINER = 'deb-ota maintainers <deb-ota@example.invalid>';

export interface AgentDebInput {
  arch: string;
  version: string;
  /** The executable's size, for Installed-Size. */
  binaryBytes: number;
  /** SOURCE_DATE_EPOCH: the changelog's date and every file's mtime. */
  epochSeconds: number;
  /** NODE_OPTIONS in the unit (the relay's flags, for Node 20's executable), or null. */
  nodeOptions: string | null;
  /** The relay's flags as arguments before `daemon` (`--node-options=...`; unit.ts). */
  relayArgs?: readonly string[];
  maintainer?: string;
  /** The packages of the libraries it links (elf.ts); default FALLBACK_LINKED, what Node's official builds link. */
  linked?: string[];
  /** The CLI's man page and completions (cli-pages.ts); none when absent. */
  pages?: { man: string; bash: string; zsh: string };
}

/** A file's bytes, or the executable copied from the input; a folder has neither. */
export type DebContent = { kind: 'dir' } | { kind: 'text'; bytes: Uint8Array } | { kind: 'binary' };

export interface DebEntry {
  /** Relative to the package root, without a leading slash. */
  path: string;
  mode: number;
  content: DebContent;
}

export interface AgentDebPlan {
  fileName: string;
  arch: AgentArch;
  version: string;
  /** DEBIAN/control's text. */
  control: string;
  /** Absolute paths, one per line in DEBIAN/conffiles. */
  conffiles: string[];
  scripts: Readonly<Record<string, string>>;
  /** Sorted by path, folders before what they hold. */
  entries: DebEntry[];
}

const BINARY = 'usr/bin/ota-agent';
const DOC = 'usr/share/doc/ota-agent';
/** Our health checks' folders and greenboot's, which the agent reads too (docs/agent.md, "Health checks"). */
const HEALTH_DIRS = ['etc/ota/health/required.d', 'etc/ota/health/wanted.d', 'etc/greenboot/check/required.d', 'etc/greenboot/check/wanted.d'];

export function agentDebPlan(input: AgentDebInput): AgentDebPlan {
  const arch = checkArch(input.arch);
  const version = checkVersion(input.version);
  const maintainer = input.maintainer ?? DEFAULT_MAINTAINER;
  const text = (s: string): DebContent => ({ kind: 'text', bytes: Buffer.from(s, 'utf8') });
  const files: DebEntry[] = [
    { path: 'etc/ota/agent.yaml', mode: 0o644, content: text(DEVICE_CONFIG_TEMPLATE) },
    { path: 'lib/systemd/system/ota-agent.service', mode: 0o644, content: text(agentUnit({ nodeOptions: input.nodeOptions, relayArgs: input.relayArgs })) },
    { path: BINARY, mode: 0o755, content: { kind: 'binary' } },
    { path: 'usr/lib/ota/agent.yaml', mode: 0o644, content: text(packagedConfig(arch)) },
    { path: `${DOC}/changelog.gz`, mode: 0o644, content: { kind: 'text', bytes: gzipSync(changelogText({ version, maintainer, epochSeconds: input.epochSeconds }), { level: 9 }) } },
    { path: `${DOC}/copyright`, mode: 0o644, content: text(copyrightText()) },
    ...pageEntries(input.pages),
  ];
  const dirs = new Set<string>(['etc/ota/agent.d', ...HEALTH_DIRS]);
  for (const p of [...dirs, ...files.map((f) => f.path)]) {
    for (let d = parentOf(p); d !== ''; d = parentOf(d)) dirs.add(d);
  }
  const entries = [...[...dirs].map((path): DebEntry => ({ path, mode: 0o755, content: { kind: 'dir' } })), ...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const conffiles = files.filter((f) => f.path.startsWith('etc/')).map((f) => `/${f.path}`);
  const installedBytes = files.reduce((n, f) => n + (f.content.kind === 'binary' ? input.binaryBytes : f.content.kind === 'text' ? f.content.bytes.length : 0), 0);
  return { fileName: `${PACKAGE}_${version}_${arch}.deb`, arch, version, control: controlText({ arch, version, maintainer, depends: [...(input.linked ?? FALLBACK_LINKED), ...RUNTIME_DEPENDS], installedKiB: Math.ceil(installedBytes / 1024) + dirs.size }), conffiles, scripts: MAINTAINER_SCRIPTS, entries };
}

/** The man page (ota-agent man names its section 1) and the completions where bash-completion and zsh look. */
function pageEntries(pages: AgentDebInput['pages']): DebEntry[] {
  if (pages === undefined) return [];
  return [
    { path: 'usr/share/man/man1/ota-agent.1.gz', mode: 0o644, content: { kind: 'text', bytes: gzipSync(pages.man, { level: 9 }) } },
    { path: 'usr/share/bash-completion/completions/ota-agent', mode: 0o644, content: { kind: 'text', bytes: Buffer.from(pages.bash) } },
    { path: 'usr/share/zsh/vendor-completions/_ota-agent', mode: 0o644, content: { kind: 'text', bytes: Buffer.from(pages.zsh) } },
  ];
}

function controlText(o: { arch: string; version: string; maintainer: string; depends: string[]; installedKiB: number }): string {
  return [
    `Package: ${PACKAGE}`,
    `Version: ${o.version}`,
    `Architecture: ${o.arch}`,
    `Maintainer: ${o.maintainer}`,
    `Installed-Size: ${o.installedKiB}`,
    `Depends: ${o.depends.join(', ')}`,
    'Section: admin',
    'Priority: optional',
    'Description: atomic over-the-air updates for OSTree-based Debian devices',
    ' ota-agent updates a device from releases signed and published by deb-ota\'s',
    ' `ota publish`: it verifies the signed release, downloads the OSTree commit by',
    ' its static delta, arms the bootloader\'s boot counter, deploys beside the',
    ' running system, reboots, runs health checks, and then commits or rolls back.',
    ' With a broker configured it hears of releases and signed commands over MQTT',
    ' and reports its status there.',
    '',
  ].join('\n');
}

/** `path  md5` lines as DEBIAN/md5sums holds them: every regular file, by path. */
export function md5sumsText(sums: ReadonlyArray<{ path: string; md5: string }>): string {
  return [...sums].sort((a, b) => (a.path < b.path ? -1 : 1)).map((s) => `${s.md5}  ${s.path}\n`).join('');
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

export function checkArch(arch: string): AgentArch {
  if ((AGENT_ARCHES as readonly string[]).includes(arch)) return arch as AgentArch;
  throw new OtaError('ERR_OTA_USAGE', `the agent's package: no architecture ${JSON.stringify(arch)}`, { hint: `one of ${AGENT_ARCHES.join(', ')} (Debian's names)` });
}

function checkVersion(version: string): string {
  // Debian policy's version syntax, without an epoch (a file name cannot show it) or a revision (a native package).
  if (/^[0-9][A-Za-z0-9.+~]*$/.test(version)) return version;
  throw new OtaError('ERR_OTA_USAGE', `the agent's package: ${JSON.stringify(version)} is not a Debian version`, { hint: 'digits first, then letters, digits, ".", "+" or "~" (package.json\'s version, with "-" made "~")' });
}
