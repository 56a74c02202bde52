import { z } from 'zod';
import { commit, header, id, LIMITS, packageEntry, time } from '../fields.js';

/**
 * The packages of the booted deployment (retained), so the fleet can ask which devices run a
 * vulnerable version.
 *
 * @example
 * const i: Inventory = inventorySchema.parse(JSON.parse(payload));
 */
export const inventorySchema = z.strictObject({
  ...header('Inventory'),
  device: id,
  commit,
  updatedAt: time,
  packages: z.array(packageEntry).max(LIMITS.packages),
});

export type Inventory = z.infer<typeof inventorySchema>;
