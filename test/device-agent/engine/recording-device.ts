/**
 * A recording dependencies object for unit tests of the table and its handlers (each test name says so): the
 * sysroot is a list of deployments in memory, the update steps record their calls, and the stand-in reboot
 * only records that a reboot was asked for. The bootloader is the real U-Boot backend over an env file in a
 * temp dir, and `boot()` does what the generated boot script does with it (bootloader/state.ts, nextBoot), so
 * which deployment "booted" follows the real boot-counting rules.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nextBoot, ubootBackend, type BootloaderBackend } from '../../../bootloader/index.js';
import type { State } from '../../../device-agent/engine/states.js';
import type { AgentDeps, DeploymentInfo, EngineEvent, HealthView, PreflightVerdict, UpdateTarget, UpdateTargetInfo } from '../../../device-agent/engine/deps.js';

export const A = 'a'.repeat(64);
export const B = 'b'.repeat(64);
export const JWS = 'header.payload-1.1.signature';

export const RELEASE: UpdateTargetInfo = { ref: 'gateway/stable', version: '1.1', commit: B, minVersion: null };

export const HEALTHY: HealthView = { ok: true, deadlineHit: false, required: [{ name: 'unit:sshd.service', status: 'passed', detail: 'active' }], wanted: [] };
export const UNHEALTHY: HealthView = { ok: false, deadlineHit: false, required: [{ name: 'unit:app.service', status: 'failed', detail: 'failed' }], wanted: [] };
export const DEADLINE: HealthView = { ok: false, deadlineHit: true, required: [{ name: '/etc/ota/health/required.d/hang', status: 'timedOut', detail: 'killed at the deadline' }], wanted: [] };

export interface RecordingDevice {
  deps: AgentDeps;
  bootloader: BootloaderBackend;
  /** Every call to a side effect, in order: `download`, `deploy`, `reboot`, `undeploy <commit>`, ... */
  calls: string[];
  events: EngineEvent[];
  /** What preflight was asked, in order. */
  targets: UpdateTarget[];
  /** Deployment checksums in OSTree's boot order. */
  deployments: string[];
  booted: string;
  /** A reboot was asked for and has not happened yet. */
  rebootPending: boolean;
  /** What preflight answers, and what the health checks report on the new deployment. */
  verdict: PreflightVerdict;
  health: HealthView;
  /** The commit whose boot never reaches the agent (a kernel that panics). */
  panics: string | null;
  /** One boot, as the boot script does it; returns the commit that runs afterwards. */
  boot(): Promise<string>;
}

export async function recordingDevice(dir: string, options: { reboot?: 'auto' | 'manual'; mayApply?: boolean } = {}): Promise<RecordingDevice> {
  const envPath = join(dir, 'ota.env');
  await writeFile(envPath, 'bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n');
  const bootloader = ubootBackend({ envPath });
  let tick = 0;
  const dev: RecordingDevice = {
    bootloader,
    calls: [],
    events: [],
    targets: [],
    deployments: [A],
    booted: A,
    rebootPending: false,
    verdict: { verdict: 'go', target: RELEASE, releaseJws: JWS },
    health: HEALTHY,
    panics: null,
    boot: async () => {
      for (;;) {
        const decision = nextBoot(await bootloader.getState(), dev.deployments.length > 1);
        if (decision.saved) await bootloader.setState(decision.state);
        dev.booted = dev.deployments[decision.entry]!;
        dev.rebootPending = false;
        dev.calls.push(`boot ${dev.booted.slice(0, 1)}`);
        if (dev.booted !== dev.panics) return dev.booted;
      }
    },
    deps: {
      bootloader,
      sysroot: {
        deployments: async (): Promise<DeploymentInfo[]> => dev.deployments.map((checksum, index) => ({ index, checksum, staged: false })),
        bootedCommit: async () => dev.booted,
        setDefault: async (index) => {
          dev.calls.push(`setDefault ${dev.deployments[index]!.slice(0, 1)}`);
          const [chosen] = dev.deployments.splice(index, 1);
          dev.deployments.unshift(chosen!);
        },
        undeploy: async (index) => {
          dev.calls.push(`undeploy ${dev.deployments[index]!.slice(0, 1)}`);
          dev.deployments.splice(index, 1);
        },
      },
      update: {
        fetchRelease: async () => (dev.calls.push('fetchRelease'), JWS),
        fetchVersion: async (ref, version) => (dev.calls.push(`fetchVersion ${ref} ${version}`), JWS),
        preflight: async (t) => (dev.targets.push(t), dev.verdict),
        download: async () => void dev.calls.push('download'),
        deploy: async (t) => {
          dev.calls.push('deploy');
          if (t.intent === 'rollback' && t.toCommit !== null) {
            // a rollback deploys nothing: its deployment, already on disk, becomes the default
            dev.deployments = [t.toCommit, ...dev.deployments.filter((c) => c !== t.toCommit)];
            return { commit: t.toCommit };
          }
          // a plain deploy, as in a sysroot that is a directory: the new one first, every other one kept
          dev.deployments = [B, ...dev.deployments];
          return { commit: B };
        },
        renderBootConfig: async () => void dev.calls.push('renderBootConfig'),
        prune: async () => {
          dev.calls.push('prune');
          dev.deployments = dev.deployments.slice(0, 2);
        },
        cleanDownloads: async (keep) => void dev.calls.push(`cleanDownloads ${keep ?? 'all'}`),
      },
      health: { run: async () => (dev.calls.push('health'), dev.health) },
      policy: { reboot: options.reboot ?? 'auto', mayApply: () => options.mayApply ?? true },
      clock: { now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++)) },
      reboot: async () => {
        dev.calls.push('reboot');
        dev.rebootPending = true;
      },
      emit: (e) => void dev.events.push(e),
    },
  };
  return dev;
}

/** The device after it committed B: B runs and is the default, A is the rollback; preflight offers A for a rollback. */
export function committedOnB(dev: RecordingDevice): RecordingDevice {
  dev.deployments = [B, A];
  dev.booted = B;
  dev.verdict = { verdict: 'go', target: { ref: RELEASE.ref, version: '1.0', commit: A, minVersion: null }, releaseJws: null };
  return dev;
}

/** The exact log of an update killed once after saving `state`, from the uninterrupted log. */
export function expectedChain(clean: string[], state: State): string[] {
  const at = clean.findIndex((e) => e.startsWith(`${state}:`));
  const head = clean.slice(0, at + 1);
  if (state === 'deploying') return [...head, 'deploying:resume', 'rollingBack:interrupted', 'reporting:rolledBack', 'idle:reported'];
  if (state === 'rebooting') return [...head, 'rebooting:resume', 'verifying:booted', 'rebooting:notRebooted', ...clean.slice(at + 1)];
  // awaitingReboot is resumed on every start anyway; idle is saved after the update ended
  if (state === 'awaitingReboot' || state === 'idle') return clean;
  return [...head, `${state}:resume`, ...clean.slice(at + 1)];
}
