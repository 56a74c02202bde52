import { grubBackend, ubootBackend, type BootloaderBackend } from '../../bootloader/index.js';
import type { BootloaderConfig } from './schema.js';

/**
 * The bootloader backend the configuration names: the agent talks to either through the same
 * four verbs and never asks which one it has (docs/conventions.md, "Bootloaders behind four verbs").
 *
 * @example
 * const backend = bootloaderBackendFor({ kind: 'uboot', envPath: '/boot/efi/ota.env' });
 */
export function bootloaderBackendFor(config: BootloaderConfig): BootloaderBackend {
  const bootlimit = config.bootlimit === undefined ? {} : { defaultBootlimit: config.bootlimit };
  return config.kind === 'uboot' ? ubootBackend({ envPath: config.envPath, ...bootlimit }) : grubBackend({ envPath: config.envPath, ...bootlimit });
}
