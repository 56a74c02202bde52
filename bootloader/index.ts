/**
 * The bootloader half as a library (`deb-ota/bootloader`): the boot state and the agent's
 * transitions on it, one backend per bootloader behind the same four verbs, the generated boot
 * scripts, and the env codecs. bootloader/README.md says what each file holds and the boot
 * counting semantics. Nothing here loads libostree.
 *
 * @example
 * import { ubootBackend, armForUpgrade } from 'deb-ota/bootloader';
 * const backend = ubootBackend({ envPath: '/boot/efi/ota.env' });
 * await backend.setState(armForUpgrade(await backend.getState()));
 */
export {
  initialBootState,
  armForUpgrade,
  markGood,
  requestRollback,
  clearRollback,
  nextBoot,
  primaryOf,
  withPrimary,
  checkBootState,
  DEFAULT_BOOTLIMIT,
  MAX_BOOTLIMIT,
  MAX_BOOTCOUNT,
  type BootEntry,
  type BootState,
  type BootDecision,
} from './state.js';
export { BOOT_STATE_VARS, bootStateFromVars, bootStateToVars, mergeBootState, type BootStateVar } from './state-vars.js';
export { backendOverVars, type BootloaderBackend, type BootVarsStore } from './backend.js';
export { ubootBackend, type UbootBackendOptions } from './uboot/backend.js';
export { renderUbootBootScript, type UbootBootScriptOptions } from './uboot/boot-script.js';
export { compileUbootBootScript, type CompileOptions } from './uboot/mkimage.js';
export {
  readUbootEnv,
  writeUbootEnv,
  updateUbootEnv,
  readUbootEnvText,
  writeUbootEnvText,
  parseUbootEnvText,
  formatUbootEnvText,
  layoutFromFwEnvConfig,
  parseFwEnvConfig,
  formatFwEnvConfig,
  type UbootEnv,
  type UbootEnvVars,
  type UbootEnvLayout,
  type UbootEnvLocation,
  type UbootEnvWriteOptions,
  type FwEnvConfigEntry,
} from './uboot/env.js';
export { grubBackend, type GrubBackendOptions } from './grub/backend.js';
export { renderGrubConfig, type GrubConfigOptions, type GrubLocation } from './grub/config.js';
export { parseBlsEntry, sortBlsEntries, readOstreeBlsEntries, type BlsEntry } from './grub/bls.js';
export { parseGrubEnv, formatGrubEnv, readGrubEnv, writeGrubEnv, updateGrubEnv, GRUBENV_SIZE } from './grub/env.js';
