import type { IClientOptions, MqttClient } from 'mqtt';
import { OtaError } from '../errors.js';
import { reconnectDelayMs, STABLE_CONNECTION_MS } from './backoff.js';
import { closeClient, connectOnce } from './connect.js';
import { connectError, refusedProtocolVersion } from './connect-error.js';
import { mqttClientOptions, protocolLevels, type MqttConnectOptions, type SettingNames } from './options.js';

/**
 * A long-lived MQTT session (docs/agent.md, "The daemon and its workers"): it connects, keeps a
 * persistent session (clean: false; on MQTT 5 a session expiry), subscribes, and when the
 * connection ends it waits `reconnectDelayMs` (exponential, with jitter) and connects again, for
 * as long as it runs. MQTT 5 first, then 3.1.1 when the broker refuses 5; the version that worked
 * is tried first next time. mqtt.js's own reconnecting is off: it has no jitter.
 *
 * @example
 * const s = await MqttSession.open({ connect: { url, clientId: 'gw-1' }, ... });
 * s.start();
 * s.publish('ota/devices/gw-1/status', text, { qos: 1, retain: true });
 * await s.stop({ topic: 'ota/devices/gw-1/online', payload: offline, qos: 1, retain: true });
 */
export interface Publication {
  topic: string;
  payload: string | Buffer;
  qos: 0 | 1;
  retain: boolean;
}

export interface SessionHandlers {
  /** After each CONNACK and the subscriptions: the protocol, and whether the broker kept our session. */
  onUp: (info: { protocol: '5' | '3.1.1'; sessionPresent: boolean }) => void;
  /** A connection ended or an attempt failed; `error` says why (null for a close without one). */
  onDown: (info: { error: OtaError | null; retryInMs: number }) => void;
  onMessage: (topic: string, payload: Buffer, retained: boolean) => void;
}

export interface SessionOptions {
  connect: MqttConnectOptions & { clientId: string };
  /** What the user calls the settings, for messages (configuration keys on a device). */
  names?: SettingNames;
  keepaliveSeconds: number;
  /** MQTT 5's session expiry; on 3.1.1 clean: false alone keeps the session. */
  sessionExpirySeconds: number;
  reconnect: { minMs: number; maxMs: number };
  /** The last will, made again for each connection (it may carry when that connection began). */
  will: () => Publication;
  subscriptions: { topic: string; qos: 0 | 1 }[];
  handlers: SessionHandlers;
  random?: () => number;
  now?: () => number;
}

export class MqttSession {
  private client: MqttClient | null = null;
  private level: 4 | 5 | null = null;
  private sessionPresent = false;
  private stopping = false;
  private readonly abort = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();

  private constructor(
    private readonly o: SessionOptions,
    private readonly display: string,
    private readonly base: IClientOptions,
  ) {}

  /** Reads the CA, certificate and key files; a bad URL or an unreadable file is an OtaError here, before any connection. */
  static async open(o: SessionOptions): Promise<MqttSession> {
    const { display, base } = await mqttClientOptions(o.connect, o.names);
    return new MqttSession(o, display, base);
  }

  /** The broker's URL without credentials. */
  get url(): string {
    return this.display;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  get protocol(): '5' | '3.1.1' | null {
    return this.level === null ? null : this.level === 5 ? '5' : '3.1.1';
  }

  start(): void {
    this.loopDone = this.loop();
  }

  /**
   * Sends when connected and returns true; returns false (nothing sent) otherwise, so the caller
   * keeps the message for later. A failure after sending shows up as the connection's end.
   */
  publish(p: Publication): boolean {
    const client = this.client;
    if (client === null || !client.connected) return false;
    client.publish(p.topic, p.payload, { qos: p.qos, retain: p.retain }, () => {});
    return true;
  }

  /** Publishes `last` (when connected; awaited up to 2 s), disconnects cleanly, and ends the loop. */
  async stop(last?: Publication): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    const client = this.client;
    if (client !== null && client.connected && last !== undefined) {
      const sent = new Promise<void>((resolve) => client.publish(last.topic, last.payload, { qos: last.qos, retain: last.retain }, () => resolve()));
      await Promise.race([sent, sleep(2_000)]);
    }
    if (client !== null) await closeClient(client);
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    const now = this.o.now ?? Date.now;
    let attempt = 0;
    while (!this.stopping) {
      let upAt: number | null = null;
      let error: OtaError | null = null;
      try {
        const client = await this.connectAny();
        if (this.stopping) {
          // stop() came while this connection was being made: nobody else will close it.
          await closeClient(client);
          return;
        }
        upAt = now();
        const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
        this.client = client;
        // A connection that ends while subscribing (another client took the id over, say) leaves
        // mqtt.js's subscribe waiting for a reconnect it will never make: the close wins the race.
        const subscribed = this.subscribe(client).then(() => 'subscribed' as const);
        subscribed.catch(() => {});
        const first = await Promise.race([subscribed, closed]).catch(async (e: unknown) => {
          await closeClient(client);
          throw e;
        });
        if (first === 'subscribed' && !this.stopping) this.o.handlers.onUp({ protocol: this.protocol!, sessionPresent: this.sessionPresent });
        await closed;
        // mqtt.js keeps a closed client's timers (and so the client, its socket and parser) alive
        // until it is ended: without this, every reconnect leaked one (the soak of bench/agent).
        client.end(true);
      } catch (e) {
        error = e instanceof OtaError ? e : connectError(e, { url: this.display, timeoutSeconds: this.timeoutSeconds() });
      }
      this.client = null;
      if (this.stopping) return;
      if (upAt !== null && now() - upAt >= STABLE_CONNECTION_MS) attempt = 0;
      const retryInMs = reconnectDelayMs(attempt++, this.o.reconnect, this.o.random ?? Math.random);
      this.o.handlers.onDown({ error, retryInMs });
      await sleep(retryInMs, this.abort.signal);
    }
  }

  private timeoutSeconds(): number {
    return this.o.connect.connectTimeoutSeconds ?? 10;
  }

  /** The remembered level first, then the other one when the protocol is auto. */
  private levels(): (4 | 5)[] {
    const all = protocolLevels(this.o.connect.protocol);
    return this.level === null ? all : [this.level, ...all.filter((l) => l !== this.level)];
  }

  private async connectAny(): Promise<MqttClient> {
    const levels = this.levels();
    for (const level of levels) {
      try {
        const client = await connectOnce(this.o.connect.url, this.clientOptions(level), {
          timeoutSeconds: this.timeoutSeconds(),
          setup: (c) => {
            c.on('message', (topic, payload, packet) => this.o.handlers.onMessage(topic, payload, packet.retain));
            c.once('connect', (connack) => (this.sessionPresent = connack.sessionPresent === true));
          },
        });
        this.level = level;
        return client;
      } catch (e) {
        if (level !== levels[levels.length - 1] && refusedProtocolVersion(e)) continue;
        throw e;
      }
    }
    throw new Error('MqttSession: no protocol version to try, this is a bug');
  }

  private clientOptions(level: 4 | 5): IClientOptions {
    const will = this.o.will();
    return {
      ...this.base,
      protocolVersion: level,
      clean: false,
      keepalive: this.o.keepaliveSeconds,
      // mqtt-packet otherwise builds a Buffer for each of the 65536 two-byte numbers on the first
      // packet: 8 MB of heap that stays, a sixth of the relay's budget, to save microseconds.
      writeCache: false,
      will: { topic: will.topic, payload: Buffer.from(will.payload), qos: will.qos, retain: will.retain },
      ...(level === 5 ? { properties: { sessionExpiryInterval: this.o.sessionExpirySeconds } } : {}),
    };
  }

  private async subscribe(client: MqttClient): Promise<void> {
    for (const s of this.o.subscriptions) {
      const granted = await client.subscribeAsync(s.topic, { qos: s.qos });
      if (granted.some((g) => g.qos === 128)) {
        throw new OtaError('ERR_OTA_MQTT', `subscribing to ${s.topic} at ${this.display}: refused by the broker`, { hint: 'check the broker\'s ACL for this user and topic' });
      }
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
