import { API_VERSION, type DeploymentRef, type Status } from '../../contract/index.js';
import type { BootEntry, BootState } from '../../bootloader/index.js';
import type { UpdateRecord } from '../engine/record.js';
import { formatBytes } from '../../common/units.js';
import { updateStatus, type DownloadProgress, type RecordRead } from './record-status.js';

/**
 * What `ota-agent status` shows, as data (docs/agent.md, "Local CLI"): the contract's status
 * document, the deployments it was made from, and the bootloader's state. The document follows
 * docs/contract.md, "Status"; the deployments and the bootloader are for the person reading.
 *
 * @example
 * const status = statusDocument({ deviceId: 'gw-1', agentVersion: '0.1.0', now: new Date(), deployments });
 */
export interface DeploymentInfo {
  /** Position in the boot order: 0 is the default. */
  index: number;
  osname: string;
  checksum: string;
  serial: number;
  /** The commit's `version` metadata, or null when it has none that is a Debian version. */
  version: string | null;
  role: 'booted' | 'pending' | 'rollback' | 'other';
  /** Staged by OSTree: written out at shutdown by ostree-finalize-staged. */
  staged: boolean;
  pinned: boolean;
}

/**
 * The deployments as a booted system's libostree would list them, when libostree found nothing
 * booted but the kernel command line names a deployment (docs/agent.md, "Local CLI"): the named
 * one is booted, the default before it (of the same OS) pending, the first after it rollback.
 * This is the engine's own view of what runs, so status and agent agree in a folder sysroot too.
 */
export function withBooted(deployments: DeploymentInfo[], booted: { osname: string; checksum: string; serial: number } | null): DeploymentInfo[] {
  if (booted === null || deployments.some((d) => d.role === 'booted')) return deployments;
  const at = deployments.find((d) => d.osname === booted.osname && d.checksum === booted.checksum && d.serial === booted.serial);
  if (at === undefined) return deployments;
  const same = deployments.filter((d) => d.osname === at.osname).sort((a, b) => a.index - b.index);
  const pending = same.find((d) => d.index < at.index);
  const rollback = same.find((d) => d.index > at.index);
  return deployments.map((d) => ({ ...d, role: d === at ? 'booted' : d === pending ? 'pending' : d === rollback ? 'rollback' : 'other' }));
}

export type BootloaderInfo = { kind: 'uboot' | 'grub'; where: string } & ({ state: BootState; primary: BootEntry } | { error: string });

export interface DeviceStatus {
  status: Status;
  deployments: DeploymentInfo[];
  bootloader: BootloaderInfo;
  /** The engine's state record, or why it could not be read. */
  record: RecordRead;
  /** The download's progress file, when there is a readable one. */
  progress: DownloadProgress | null;
  /** Why the kernel command line's `ostree=` named no deployment of the sysroot, or null. */
  bootNote?: string | null;
}

/**
 * The contract's three deployments. On a booted system they are OSTree's roles: the booted one,
 * the pending one (what boots next, staged or not) and the rollback. A sysroot in a folder (a
 * test, an image being built) has nothing booted: what boots next is the default (entry 0), and
 * what the bootloader falls back to is entry 1, so those are reported as staged and rollback.
 */
export function contractDeployments(deployments: DeploymentInfo[]): Status['deployments'] {
  const ref = (d: DeploymentInfo | undefined): DeploymentRef | null => (d === undefined ? null : { version: d.version, commit: d.checksum });
  const booted = deployments.find((d) => d.role === 'booted');
  if (booted !== undefined) {
    return { booted: ref(booted), staged: ref(deployments.find((d) => d.role === 'pending')), rollback: ref(deployments.find((d) => d.role === 'rollback')) };
  }
  const ordered = [...deployments].sort((a, b) => a.index - b.index);
  return { booted: null, staged: ref(ordered[0]), rollback: ref(ordered[1]) };
}

export interface StatusInput {
  deviceId: string;
  /** The group whose release the device follows (docs/contract.md, "Status"). */
  group?: string;
  agentVersion: string;
  now: Date;
  deployments: DeploymentInfo[];
  record: RecordRead;
  progress?: DownloadProgress | null;
}

/** The status document: the deployments from the sysroot, the update from the state record. */
export function statusDocument(input: StatusInput): Status {
  return {
    apiVersion: API_VERSION,
    kind: 'Status',
    device: input.deviceId,
    ...(input.group === undefined ? {} : { group: input.group }),
    agentVersion: input.agentVersion,
    updatedAt: input.now.toISOString(),
    deployments: contractDeployments(input.deployments),
    ...updateStatus(input.record, input.now, input.progress ?? null),
  };
}

/** `ota-agent status` for a person: the deployments in boot order, the bootloader, the update. */
export function statusLines(s: DeviceStatus): string[] {
  const lines = [`device ${s.status.device} (ota-agent ${s.status.agentVersion})`, 'deployments (boot order):'];
  if (s.deployments.length === 0) lines.push('  none');
  for (const d of [...s.deployments].sort((a, b) => a.index - b.index)) {
    const mark = d.role === 'booted' ? '*' : ' ';
    const tags = [d.role === 'other' ? null : d.role, d.staged ? 'staged' : null, d.pinned ? 'pinned' : null].filter((t) => t !== null);
    lines.push(`${mark} ${d.index} ${d.osname} ${d.checksum}.${d.serial}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}`);
    lines.push(`      version ${d.version ?? '(none)'}`);
  }
  if (s.bootNote) lines.push(`booted deployment unknown: ${s.bootNote}`);
  const b = s.bootloader;
  if ('error' in b) lines.push(`bootloader ${b.kind} (${b.where}): unreadable: ${b.error}`);
  else {
    const flags = [b.state.upgradeAvailable ? 'upgrade armed' : 'no upgrade armed', b.state.rollback ? 'rollback flag set' : 'no rollback flag'];
    lines.push(`bootloader ${b.kind} (${b.where}): next boot entry ${b.primary}, bootcount ${b.state.bootcount}/${b.state.bootlimit}, ${flags.join(', ')}`);
  }
  lines.push(...recordLines(s.record));
  const p = s.status.progress;
  if (p !== null) lines.push(`  downloaded ${formatBytes(p.doneBytes)}${p.totalBytes === null ? '' : ` of ${formatBytes(p.totalBytes)}`}`);
  if (s.status.lastError !== null) lines.push(`last error: ${s.status.lastError.code}: ${s.status.lastError.message} (${s.status.lastError.at})`);
  return lines;
}

function recordLines(read: RecordRead): string[] {
  if ('error' in read) return [`state record: unreadable: ${read.error.message}`];
  const { update, lastResult, state, floor, skippedReleases } = read.record;
  const lines = [update === null ? `update: none (${state})` : `update: ${update.id}${update.version === null ? '' : ` (${update.version})`}, ${intentText(update)}, state ${state}, attempt ${update.attempt}, since ${update.startedAt}`];
  if (update !== null && update.rollbackReason !== null) lines.push(`  rolling back: ${update.rollbackReason}`);
  if (lastResult !== null) {
    lines.push(`last update: ${lastResult.id}${lastResult.version === null ? '' : ` (${lastResult.version})`} ${lastResult.result} at ${lastResult.at}${lastResult.reason === null ? '' : `: ${lastResult.reason}`}`);
  }
  // Warnings of the update in progress, else of the last one: a wanted check that failed, a prune that failed.
  for (const e of (update ?? lastResult)?.log ?? []) if (e.detail?.startsWith('warning: ')) lines.push(`  ${e.detail}`);
  if (floor !== null) lines.push(`anti-rollback floor: ${floor} (the highest minVersion of a release this device committed)`);
  if (skippedReleases.length > 0) {
    lines.push("skipped releases (rolled back from; `ota-agent upgrade` skips them, `ota-agent deploy VERSION` tries one again):");
    for (const s of [...skippedReleases].reverse()) lines.push(`  ${s.version ?? '(no version)'} ${s.commit}: ${s.reason} at ${s.at}`);
  }
  return lines;
}

/** What the update was asked to do (docs/agent.md, "Local CLI"), with the options that change it. */
export function intentText(update: Pick<UpdateRecord, 'intent' | 'bundlePath' | 'belowFloor' | 'downloadOnly'>): string {
  const what = {
    upgrade: "upgrade to the group's release",
    deploy: `deploy a named version${update.belowFloor ? ', below the floor allowed' : ''}`,
    rollback: `roll back to the previous deployment${update.belowFloor ? ', below the floor allowed' : ''}`,
    install: `install the bundle ${update.bundlePath ?? '(unknown)'}`,
    repair: 'make the booted deployment the default again after an update that did not end (repair on start)',
  }[update.intent];
  return update.downloadOnly ? `${what}, download only` : what;
}
