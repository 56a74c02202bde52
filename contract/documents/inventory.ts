import { z } from 'zod';
import { commit, header, id, LIMITS, packageEntry, packageName, time, version } from '../fields.js';

/**
 * The packages of the booted deployment (retained), so the fleet can ask which devices run a
 * vulnerable version.
 *
 * @example
 * const i: Inventory = inventorySchema.parse(JSON.parse(payload));
 */
/**
 * An installed package. `source` and `sourceVersion` name the source package it was built from (dpkg's
 * `Source:` field, else the package itself): the Debian security tracker speaks of source packages
 * (docs/contract.md, "Inventory"). Optional: agents before them left them out.
 */
export const installedPackage = packageEntry.extend({ source: packageName.optional(), sourceVersion: version.optional() });

/** A Debian release codename such as bookworm (os-release's VERSION_CODENAME). */
export const codename = z.string().min(1).max(32).regex(/^[a-z][a-z0-9-]*$/, 'a release codename such as bookworm');

export const inventorySchema = z.strictObject({
  ...header('Inventory'),
  device: id,
  commit,
  updatedAt: time,
  /** The Debian release the booted deployment runs, from its os-release; optional: absent when it names none. */
  codename: codename.optional(),
  packages: z.array(installedPackage).max(LIMITS.packages),
});

export type Inventory = z.infer<typeof inventorySchema>;
