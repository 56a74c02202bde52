import { OtaError } from '../../common/errors.js';
import type { EventSink } from '../../common/events.js';
import { fetchBytes } from '../../common/http.js';
import { readSigned, type TrustedKeys } from '../../contract/index.js';
import type { Sysroot } from '../../node-ostree/index.js';
import type { PreflightVerdict, UpdateSteps } from '../engine/deps.js';
import { currentDeployment } from './current.js';
import { deployUpdate, prune, renderGrub, type GrubTarget } from './deploy.js';
import { download } from './download.js';
import { chooseSource, preflight, type DeviceIdentity, type PreflightOptions, type UpdatePlan } from './preflight.js';

/**
 * The update functions bound to one device, as the engine's UpdateSteps
 * (docs/agent.md, "Applying an update"): each step starts again from the signed release the record keeps, so a step re-run
 * after a restart finds its work done (a downloaded commit, a deployment already made) rather
 * than doing it twice.
 *
 * @example
 * const update = updateSteps({ sysroot, trusted, device: { board, arch }, remote, group, osname: 'debian', downloadDir });
 */
export interface DeviceUpdateContext {
  sysroot: Sysroot;
  trusted: TrustedKeys;
  device: DeviceIdentity;
  /** The published directory's URL. */
  remote: string;
  group: string;
  osname: string;
  downloadDir: string;
  grub?: GrubTarget;
  preflight?: PreflightOptions;
  onEvent?: EventSink;
}

export function updateSteps(ctx: DeviceUpdateContext): UpdateSteps {
  return {
    async fetchRelease() {
      return (await fetchBytes(`${ctx.remote.replace(/\/+$/, '')}/groups/${encodeURIComponent(ctx.group)}/release.jws`)).toString('utf8').trim();
    },
    preflight: (jws) => verdict(ctx, jws),
    async download(jws) {
      await download({ plan: await planOf(ctx, jws), remote: ctx.remote, sysroot: ctx.sysroot, trusted: ctx.trusted, downloadDir: ctx.downloadDir, options: ctx.onEvent ? { onEvent: ctx.onEvent } : {} });
    },
    async deploy(jws) {
      const { doc } = await readSigned('release', jws.trim(), ctx.trusted);
      await ctx.sysroot.load();
      // Deployed already (the step was cut after libostree wrote it): the default is this commit.
      const first = ctx.sysroot.deployments()[0];
      if (first?.checksum === doc.commit && first.role !== 'booted') return { commit: doc.commit };
      const d = await deployUpdate({ sysroot: ctx.sysroot, osname: ctx.osname, commit: doc.commit, refspec: doc.ref, ...(ctx.grub ? { grub: ctx.grub } : {}) });
      return { commit: d.checksum };
    },
    async renderBootConfig() {
      if (ctx.grub) await renderGrub(ctx.sysroot, ctx.grub);
    },
    async prune() {
      await prune(ctx.sysroot, ctx.grub ? { grub: ctx.grub } : {});
    },
  };
}

/** The refusals as the engine's verdicts; anything else (an unreadable sysroot, say) is a failure and throws. */
async function verdict(ctx: DeviceUpdateContext, jws: string): Promise<PreflightVerdict> {
  try {
    const plan = await preflight({ jws, trusted: ctx.trusted, sysroot: ctx.sysroot, device: ctx.device, downloadDir: ctx.downloadDir, ...(ctx.preflight ? { options: ctx.preflight } : {}) });
    return { verdict: 'go', release: plan.release };
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    if (e.code === 'ERR_OTA_REFUSED' && e.details[0] === 'reason: current') {
      return { verdict: 'upToDate', release: (await readSigned('release', jws.trim(), ctx.trusted)).doc };
    }
    if (e.code === 'ERR_OTA_REFUSED' || e.code.startsWith('ERR_OTA_JWS_')) return { verdict: 'refused', reason: e.message };
    throw e;
  }
}

/** The plan download works from, made again from the release: no checks (preflight passed them before this update started). */
async function planOf(ctx: DeviceUpdateContext, jws: string): Promise<UpdatePlan> {
  const { doc: release, kid } = await readSigned('release', jws.trim(), ctx.trusted);
  await ctx.sysroot.load();
  const current = await currentDeployment(ctx.sysroot);
  return { release, kid, current, ...chooseSource(release, current, ctx.preflight?.reserveBytes) };
}
