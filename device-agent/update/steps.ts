import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { EventSink } from '../../common/events.js';
import { fetchBytes } from '../../common/http.js';
import { compareVersions, readSigned, type TrustedKeys } from '../../contract/index.js';
import type { Deployment, Sysroot } from '../../node-ostree/index.js';
import type { PreflightVerdict, UpdateSteps, UpdateTarget } from '../engine/deps.js';
import { openBundle, type Bundle } from '../../bundle/index.js';
import { bundleRefusal, bundleRefusalError, installFromBundle } from './bundle.js';
import { commitVersion, currentDeployment, runningDeployment } from './current.js';
import { deployUpdate, prune, renderGrub, type GrubTarget } from './deploy.js';
import { download } from './download.js';
import { chooseSource, preflight, refusalError, type DeviceIdentity, type PreflightOptions, type Refusal, type UpdatePlan } from './preflight.js';

/**
 * The update functions bound to one device, as the engine's UpdateSteps
 * (docs/agent.md, "Applying an update"): each step starts again from the target the record keeps, so a step re-run
 * after a restart finds its work done (a downloaded commit, a deployment already made) rather
 * than doing it twice.
 *
 * @example
 * const update = updateSteps({ sysroot, trusted, device: { board, arch }, remote, group, osname: 'debian', downloadDir,
 *   reserveBytes: config.health.minFreeDiskBytes });
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
  /**
   * Bytes that must stay free once the update is on disk: the health check's minFreeDiskBytes, since an update
   * that leaves less would fail its own check after the reboot.
   */
  reserveBytes?: number;
  /** Preflight's clock (for the release's expiry); tests only. */
  now?: Date;
  onEvent?: EventSink;
}

export function updateSteps(ctx: DeviceUpdateContext): UpdateSteps {
  const base = ctx.remote.replace(/\/+$/, '');
  return {
    async fetchRelease() {
      return (await fetchBytes(`${base}/groups/${encodeURIComponent(ctx.group)}/release.jws`)).toString('utf8').trim();
    },
    async fetchRollout() {
      const got = await fetchBytes(`${base}/groups/${encodeURIComponent(ctx.group)}/rollout.jws`, { allowMissing: true });
      return got === undefined ? null : got.toString('utf8').trim();
    },
    async fetchVersion(ref, version) {
      const url = `${base}/releases/${ref.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(version)}.jws`;
      const got = await fetchBytes(url, { allowMissing: true });
      if (got === undefined) throw new OtaError('ERR_OTA_NOT_FOUND', `no release ${version} of ${ref} at ${ctx.remote}`, { hint: `\`ota published\` on the publishing host lists the versions of ${ref}` });
      return got.toString('utf8').trim();
    },
    preflight: (t) => (t.intent === 'rollback' ? rollbackVerdict(ctx, t) : t.intent === 'install' ? installVerdict(ctx, t) : verdict(ctx, t)),
    async download(t) {
      if (t.intent === 'rollback') return;
      if (t.intent === 'install') return installBundle(ctx, t);
      const plan = await planOf(ctx, t);
      await download({ plan, remote: ctx.remote, sysroot: ctx.sysroot, trusted: ctx.trusted, downloadDir: ctx.downloadDir, options: ctx.onEvent ? { onEvent: ctx.onEvent } : {} });
    },
    deploy: (t) => (t.intent === 'rollback' ? makeDefault(ctx, t) : deployRelease(ctx, t)),
    async renderBootConfig() {
      if (ctx.grub) await renderGrub(ctx.sysroot, ctx.grub);
    },
    async prune() {
      await prune(ctx.sysroot, ctx.grub ? { grub: ctx.grub } : {});
    },
    cleanDownloads: (keep) => cleanDownloads(ctx.downloadDir, keep),
  };
}

/**
 * The release preflight accepted, read again from the record for a later step: signature, key and schema are
 * checked again, its expiry is not. It was checked when the release was accepted, and a download that waits
 * to be applied (download only, outside the window) may wait past it.
 */
function readAccepted(ctx: DeviceUpdateContext, t: UpdateTarget): ReturnType<typeof readSigned<'release'>> {
  return readSigned('release', jwsOf(t), ctx.trusted, { ...(ctx.now ? { now: ctx.now } : {}), checkExpiry: false });
}

function jwsOf(t: UpdateTarget): string {
  if (t.releaseJws === null) throw new Error(`an ${t.intent} without its release past checking, this is a bug`);
  return t.releaseJws.trim();
}

function preflightOptions(ctx: DeviceUpdateContext, t: UpdateTarget): PreflightOptions {
  return {
    // A signed rollback command to a named version may go below the floor: the signature covers its belowFloor.
    floor: t.intent === 'deploy' && t.belowFloor ? null : t.floor,
    // deploy VERSION and install FILE name their version on purpose: a downgrade is allowed, never below the floor.
    allowDowngrade: t.intent !== 'upgrade',
    reserveBytes: ctx.reserveBytes ?? 0,
    running: t.fromCommit,
    ...(ctx.now ? { now: ctx.now } : {}),
  };
}

/** The refusals as the engine's verdicts; anything else (an unreadable sysroot, say) is a failure and throws. */
async function verdict(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<PreflightVerdict> {
  const jws = jwsOf(t);
  try {
    await ctx.sysroot.load();
    const { release } = await preflight({ jws, trusted: ctx.trusted, sysroot: ctx.sysroot, device: ctx.device, downloadDir: ctx.downloadDir, options: preflightOptions(ctx, t) });
    return { verdict: 'go', target: infoOf(release), releaseJws: jws };
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    if (e.code === 'ERR_OTA_REFUSED' && e.details[0] === 'reason: current') {
      return { verdict: 'upToDate', target: infoOf((await readSigned('release', jws, ctx.trusted, ctx.now ? { now: ctx.now } : {})).doc) };
    }
    if (e.code === 'ERR_OTA_REFUSED' || e.code.startsWith('ERR_OTA_JWS_')) return { verdict: 'refused', reason: e.message };
    throw e;
  }
}

/** An install's release must pass preflight, and the bundle must carry its commit from the running one (reason `bundle`). */
async function installVerdict(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<PreflightVerdict> {
  const v = await verdict(ctx, t);
  if (v.verdict !== 'go') return v;
  // The file may have changed since `ota-agent install` opened it: one that no longer opens is refused, changing nothing.
  let bundle: Bundle;
  try {
    bundle = await openBundle(bundlePathOf(t));
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    return { verdict: 'refused', reason: bundleRefusalError({ reason: 'bundle', message: e.message, hint: e.hint ?? 'make the bundle again with `ota bundle`' }).message };
  }
  const running = t.fromCommit ?? runningDeployment(ctx.sysroot)?.checksum ?? null;
  const refusal = bundleRefusal(bundle, { commit: v.target.commit, fromCommit: running });
  return refusal === null ? v : { verdict: 'refused', reason: bundleRefusalError(refusal).message };
}

async function installBundle(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<void> {
  if (t.toCommit === null) throw new Error('an install without its commit past checking, this is a bug');
  await ctx.sysroot.load();
  await installFromBundle({
    bundlePath: bundlePathOf(t), sysroot: ctx.sysroot, trusted: ctx.trusted, expect: { commit: t.toCommit, fromCommit: t.fromCommit },
    ...(ctx.onEvent ? { onEvent: ctx.onEvent } : {}), ...(ctx.now ? { now: ctx.now } : {}), expiryChecked: true,
  });
}

function bundlePathOf(t: UpdateTarget): string {
  if (t.bundlePath === null) throw new Error('an install without its bundle, this is a bug');
  return t.bundlePath;
}

function infoOf(r: { ref: string; version: string; commit: string; minVersion: string | null }): { ref: string; version: string; commit: string; minVersion: string | null } {
  return { ref: r.ref, version: r.version, commit: r.commit, minVersion: r.minVersion };
}

/**
 * A rollback's target: the first deployment in boot order whose commit is not the running one. Its version is
 * the commit's `version` metadata; a commit without one (a local build) has nothing to compare with the floor.
 */
async function rollbackVerdict(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<PreflightVerdict> {
  await ctx.sysroot.load();
  const list = ctx.sysroot.deployments();
  const running = t.fromCommit ?? runningDeployment(ctx.sysroot)?.checksum ?? null;
  const target = list.find((d) => d.checksum !== running);
  // The verdict carries one line: the hint goes with it, as the person who asked for the rollback reads it.
  const refused = (r: Refusal): PreflightVerdict => ({ verdict: 'refused', reason: `${refusalError(r).message}; ${r.hint}` });
  if (target === undefined) {
    return refused({ reason: 'no-rollback', message: `no deployment to roll back to: the ${list.length} deployment(s) all run ${running?.slice(0, 12) ?? 'an unknown commit'}`, hint: 'a rollback needs an earlier deployment on disk; `ota-agent deploy VERSION` fetches one' });
  }
  const version = await commitVersion(ctx.sysroot, target.checksum);
  if (version !== null && t.floor !== null && !t.belowFloor && compareVersions(version, t.floor) <= 0) {
    return refused({ reason: 'floor', message: `the rollback deployment ${target.checksum.slice(0, 12)} (${version}) is at or below the anti-rollback floor ${t.floor}`, hint: 'as root on the device, `ota-agent rollback --below-floor` goes there anyway' });
  }
  return { verdict: 'go', target: { ref: originRef(target) ?? target.checksum, version, commit: target.checksum, minVersion: null }, releaseJws: null };
}

/** The ref of a deployment's origin (`refspec=remote:ref`), or null when it was deployed by checksum. */
function originRef(d: Deployment): string | null {
  const spec = /^refspec=(.+)$/m.exec(d.origin)?.[1]?.trim();
  if (spec === undefined) return null;
  const ref = spec.slice(spec.indexOf(':') + 1);
  return /^[0-9a-f]{64}$/.test(ref) ? null : ref;
}

async function deployRelease(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<{ commit: string }> {
  const { doc } = await readAccepted(ctx, t);
  await ctx.sysroot.load();
  // Deployed already (the step was cut after libostree wrote it): the default is this commit.
  const first = ctx.sysroot.deployments()[0];
  if (first?.checksum === doc.commit && first.checksum !== t.fromCommit && first.role !== 'booted') return { commit: doc.commit };
  const d = await deployUpdate({ sysroot: ctx.sysroot, osname: ctx.osname, commit: doc.commit, refspec: doc.ref, ...(ctx.grub ? { grub: ctx.grub } : {}) });
  return { commit: d.checksum };
}

/** A rollback deploys nothing: the existing deployment becomes OSTree's default (run again, it already is). */
async function makeDefault(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<{ commit: string }> {
  if (t.toCommit === null) throw new Error('a rollback without its target past checking, this is a bug');
  await ctx.sysroot.load();
  const d = ctx.sysroot.deployments().find((x) => x.checksum === t.toCommit);
  if (d === undefined) throw new OtaError('ERR_OTA_STATE', `the rollback deployment ${t.toCommit.slice(0, 12)} is gone from ${ctx.sysroot.path}`, { hint: 'something else removed it (`ostree admin undeploy`); `ota-agent status` shows what is left' });
  if (d.index !== 0) await ctx.sysroot.setDefault(d.index);
  if (ctx.grub) await renderGrub(ctx.sysroot, ctx.grub);
  return { commit: d.checksum };
}

/** The plan download works from, made again from the release: no checks (preflight passed them before this update started). */
async function planOf(ctx: DeviceUpdateContext, t: UpdateTarget): Promise<UpdatePlan> {
  const { doc: release, kid } = await readAccepted(ctx, t);
  await ctx.sysroot.load();
  const current = await currentDeployment(ctx.sysroot, t.fromCommit);
  return { release, kid, current, ...chooseSource(release, current, ctx.reserveBytes) };
}

/** Download leftovers are directories named by commit; nothing else in the directory is touched. */
async function cleanDownloads(dir: string, keep: string | null): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const name of names) {
    if (name !== keep && /^[0-9a-f]{64}$/.test(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
}
