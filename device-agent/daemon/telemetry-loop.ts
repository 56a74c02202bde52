import type { Publication } from '../../common/mqtt/session.js';
import { topics } from '../../contract/topics.js';
import type { LogLevel } from './publisher.js';
import type { RelayConfig } from './relay-config.js';
import { collectTelemetry, type CpuSample } from './telemetry.js';

/**
 * The relay's telemetry timer (docs/agent.md, "The daemon and its workers"): a Telemetry document
 * every `intervalSeconds` on `devices/<id>/telemetry`, QoS 0, read from /proc and /sys by the
 * relay itself (no worker, no dependency). Collections never overlap; a failed one is logged.
 * Returns the function that stops it.
 *
 * @example
 * const stop = startTelemetry({ config, intervalSeconds: 60, log, publish });
 */
export function startTelemetry(o: { config: RelayConfig; intervalSeconds: number; log: (level: LogLevel, text: string) => void; publish: (p: Publication) => void }): () => void {
  if (o.intervalSeconds <= 0) return () => {};
  const topic = topics(o.config.mqtt?.topicPrefix).deviceTelemetry(o.config.deviceId);
  let previousCpu: CpuSample | null = null;
  let busy = false;
  let failures = 0;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    collectTelemetry({ device: o.config.deviceId, mounts: [o.config.sysroot, o.config.stateDir], previousCpu })
      .then(({ telemetry, cpuSample }) => {
        previousCpu = cpuSample;
        failures = 0;
        o.publish({ topic, payload: JSON.stringify(telemetry), qos: 0, retain: false });
      })
      .catch((e: unknown) => {
        // Once, then quiet until it works again: a broken /proc would otherwise fill the journal.
        if (failures++ === 0) o.log(4, `telemetry: ${(e as Error).message}`);
      })
      .finally(() => (busy = false));
  }, o.intervalSeconds * 1000);
  return () => clearInterval(timer);
}
