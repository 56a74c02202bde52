import type { MqttClient } from 'mqtt';
import { OtaError } from '../../common/errors.js';
import { closeClient, connectOnce } from '../../common/mqtt/connect.js';
import { connectError, refusedProtocolVersion } from '../../common/mqtt/connect-error.js';
import { mqttClientOptions, protocolLevels, type MqttConnectOptions } from '../../common/mqtt/options.js';

/**
 * The host tools' one door to MQTT (docs/conventions.md, "One door per kind"), over mqtt.js:
 * mqtt:// or mqtts://, username and password, a private CA, a client certificate for mutual
 * TLS, and MQTT 5 with a fallback to 3.1.1 when the broker refuses 5 (aedes, older brokers).
 * No reconnecting: a command connects, does its work and ends, and a failure is one OtaError
 * saying which broker and why (`connect-error.ts`).
 *
 * @example
 * const session = await connectBroker({ url: 'mqtt://127.0.0.1:1883' });
 * try { await session.publish('ota/groups/lab/release', jws, { qos: 1, retain: true }); } finally { await session.close(); }
 */
export type BrokerOptions = MqttConnectOptions;

export interface BrokerSession {
  /** The protocol the broker accepted. */
  protocol: '5' | '3.1.1';
  /** Resolves once the broker acknowledged the message (QoS 1 and 2), or once it is written (QoS 0). */
  publish: (topic: string, payload: string | Buffer, o: { qos: 0 | 1 | 2; retain: boolean }) => Promise<void>;
  subscribe: (topic: string, qos: 0 | 1 | 2) => Promise<void>;
  onMessage: (listener: (topic: string, payload: Buffer, retained: boolean) => void) => void;
  close: () => Promise<void>;
  /** The mqtt.js client, for what this wrapper does not cover yet. */
  client: MqttClient;
}

export async function connectBroker(options: BrokerOptions): Promise<BrokerSession> {
  const { display, base } = await mqttClientOptions(options);
  const timeoutSeconds = options.connectTimeoutSeconds ?? 10;
  const versions = protocolLevels(options.protocol);
  for (const v of versions) {
    try {
      const client = await connectOnce(options.url, { ...base, protocolVersion: v }, { timeoutSeconds });
      return session(client, v === 5 ? '5' : '3.1.1', display);
    } catch (e) {
      if (v === 5 && versions.length > 1 && refusedProtocolVersion(e)) continue;
      throw connectError(e, { url: display, timeoutSeconds });
    }
  }
  throw new Error('connectBroker: no protocol version to try, this is a bug');
}

function session(client: MqttClient, protocol: '5' | '3.1.1', display: string): BrokerSession {
  return {
    protocol,
    client,
    publish: async (topic, payload, o) => {
      try {
        await client.publishAsync(topic, payload, { qos: o.qos, retain: o.retain });
      } catch (e) {
        throw new OtaError('ERR_OTA_MQTT', `publishing on ${topic} at ${display}: ${(e as Error).message}`, { hint: 'the broker refused the message: check its ACL for this user and topic', cause: e });
      }
    },
    subscribe: async (topic, qos) => {
      const granted = await client.subscribeAsync(topic, { qos });
      if (granted.some((g) => g.qos === 128)) throw new OtaError('ERR_OTA_MQTT', `subscribing to ${topic} at ${display}: refused by the broker`, { hint: 'check the broker\'s ACL for this user and topic' });
    },
    onMessage: (listener) => {
      client.on('message', (topic, payload, packet) => listener(topic, payload, packet.retain));
    },
    close: () => closeClient(client),
  };
}
