/**
 * The device-side effects of an update, as plain async functions the agent's state handlers call
 * (docs/agent.md, "Applying an update"): preflight (refuse before downloading), download (delta
 * or pull by checksum, then the commit's signature), installFromBundle (the same from an offline
 * bundle, with bundleRefusal for preflight), deployUpdate, prune, renderGrub.
 *
 * @example
 * const plan = await preflight({ jws, trusted, sysroot, device, downloadDir });
 * await download({ plan, remote, sysroot, trusted, downloadDir });
 * await deployUpdate({ sysroot, osname: 'debian', commit: plan.release.commit, refspec: plan.release.ref });
 */
export { preflight, checkRelease, chooseSource, refusalError, type PreflightInput, type PreflightOptions, type UpdatePlan, type UpdateSource, type Refusal, type RefusalReason, type DeviceIdentity } from './preflight.js';
export { download, type DownloadInput, type DownloadOptions, type DownloadResult } from './download.js';
export { deployUpdate, prune, pruneSelection, renderGrub, type DeployInput, type GrubTarget } from './deploy.js';
export { currentDeployment, runningDeployment, type CurrentCommit } from './current.js';
export { bundleRefusal, bundleRefusalError, installFromBundle, type BundleExpectation, type BundleRefusal, type InstallFromBundleInput, type InstallFromBundleResult } from './bundle.js';
export { updateSteps, type DeviceUpdateContext } from './steps.js';
