import { z } from 'zod';
import { bytes, count, header, id, LIMITS, time } from '../fields.js';

const percent = z.number().min(0).max(100);
const path = z.string().min(1).max(256);

/**
 * Periodic measurements (QoS 0: a lost sample is replaced by the next one).
 *
 * @example
 * const t: Telemetry = telemetrySchema.parse(JSON.parse(payload));
 */
export const telemetrySchema = z.strictObject({
  ...header('Telemetry'),
  device: id,
  time,
  cpu: z.strictObject({ usagePercent: percent, loadAverage1m: z.number().nonnegative().max(1e6) }),
  memory: z.strictObject({ totalBytes: bytes, availableBytes: bytes }),
  disk: z.array(z.strictObject({ mount: path, totalBytes: bytes, availableBytes: bytes })).max(LIMITS.disks),
  /** The hottest thermal zone, null where the board has none. */
  temperatureCelsius: z.number().min(-273.15).max(1000).nullable(),
  uptimeSeconds: count,
  network: z.array(z.strictObject({ interface: z.string().min(1).max(64), rxBytes: bytes, txBytes: bytes })).max(LIMITS.interfaces),
});

export type Telemetry = z.infer<typeof telemetrySchema>;
