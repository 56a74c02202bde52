import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { versionProblem } from '../../contract/index.js';
import { Repo, Sysroot, readCommit } from '../../node-ostree/index.js';
import { bootedFromCommandLine, type BootedDeployment } from '../agent/booted.js';
import { bootloaderBackendFor } from '../config/bootloader.js';
import type { AgentConfig } from '../config/schema.js';
import { StateStore } from '../engine/store.js';
import { parseDownloadProgress, PROGRESS_FILE, type DownloadProgress, type RecordRead } from './record-status.js';
import { statusDocument, withBooted, type BootloaderInfo, type DeploymentInfo, type DeviceStatus } from './status.js';

/**
 * Reads the device as it is: the deployments from the real sysroot through libostree (with each
 * commit's version from its metadata) and the bootloader's state through its backend. Nothing is
 * written, locked or created.
 *
 * @example
 * const s = await readDeviceStatus(config, { agentVersion: '0.1.0', now: new Date() });
 */
export interface ReadStatusOptions {
  agentVersion: string;
  now: Date;
}

export async function readDeviceStatus(config: AgentConfig, options: ReadStatusOptions): Promise<DeviceStatus> {
  const listed = await readDeployments(config.sysroot);
  const boot = listed.some((d) => d.role === 'booted') ? { booted: null, note: null } : await readCommandLine(config);
  const deployments = withBooted(listed, boot.booted);
  const bootloader = await readBootloader(config);
  const record = await readRecord(config.stateDir, options.now);
  const progress = await readProgress(config.stateDir);
  const status = statusDocument({ deviceId: config.deviceId, group: config.group, agentVersion: options.agentVersion, now: options.now, deployments, record, progress });
  return { status, deployments, bootloader, record, progress, bootNote: boot.note };
}

/**
 * What the kernel command line says runs, as the agent reads it when libostree finds nothing
 * booted (a sysroot in a folder). An `ostree=` that names no deployment is shown, not fatal:
 * status is where a person goes to find out what is wrong.
 */
async function readCommandLine(config: AgentConfig): Promise<{ booted: BootedDeployment | null; note: string | null }> {
  try {
    return { booted: await bootedFromCommandLine({ sysroot: config.sysroot, cmdlinePath: config.kernelCommandLine }), note: null };
  } catch (e) {
    if (e instanceof OtaError) return { booted: null, note: e.message };
    throw e;
  }
}

/** The sysroot's deployments with their commits' versions. */
export async function readDeployments(path: string): Promise<DeploymentInfo[]> {
  const repoPath = join(path, 'ostree/repo');
  // Sysroot.open would create a missing folder: a wrong path must be an error, not a new empty sysroot.
  try {
    await access(join(repoPath, 'config'));
  } catch {
    throw new OtaError('ERR_OTA_OSTREE', `${path} is not an OSTree sysroot: ${repoPath}/config is missing`, {
      hint: 'set sysroot in /etc/ota/agent.yaml (`/` on a device); see docs/agent.md, "Configuration"',
    });
  }
  const sysroot = await Sysroot.open(path);
  try {
    await sysroot.load();
    const raw = sysroot.deployments();
    const repo = await Repo.open(repoPath);
    try {
      return raw.map((d) => ({
        index: d.index,
        osname: d.osname,
        checksum: d.checksum,
        serial: d.serial,
        version: commitVersion(repo, d.checksum),
        role: d.role,
        staged: d.staged,
        pinned: d.pinned,
      }));
    } finally {
      repo.close();
    }
  } finally {
    sysroot.close();
  }
}

/** The commit's `version` metadata when it is a Debian version (the contract carries no other kind). */
function commitVersion(repo: Repo, checksum: string): string | null {
  const v = readCommit(repo, checksum).metadata.get('version')?.value;
  return typeof v === 'string' && versionProblem(v) === undefined && v.trim() === v ? v : null;
}

async function readBootloader(config: AgentConfig): Promise<BootloaderInfo> {
  const backend = bootloaderBackendFor(config.bootloader);
  try {
    // A status that cannot read the boot counter still shows the deployments: say why instead of failing.
    return { kind: backend.kind, where: backend.where, state: await backend.getState(), primary: await backend.getPrimary() };
  } catch (e) {
    return { kind: backend.kind, where: backend.where, error: e instanceof Error ? e.message : String(e) };
  }
}

/** The state record as the agent would read it on start (the initial one when there is none); never written here. */
async function readRecord(stateDir: string, now: Date): Promise<RecordRead> {
  try {
    return { record: await new StateStore({ dir: stateDir }).load() };
  } catch (e) {
    // A bad record is what status is for: the hint of the store's error sends people here.
    if (e instanceof OtaError) return { error: { code: e.code, message: e.message, at: now } };
    throw e;
  }
}

/** The download's progress file; missing or unreadable is no progress, never an error. */
async function readProgress(stateDir: string): Promise<DownloadProgress | null> {
  try {
    return parseDownloadProgress(await readFile(join(stateDir, PROGRESS_FILE), 'utf8'));
  } catch {
    return null;
  }
}
