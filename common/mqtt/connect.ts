import { connect, type IClientOptions, type MqttClient } from 'mqtt';

/**
 * One connection attempt over mqtt.js: the client once the broker accepted it (CONNACK), or the
 * error (or 'timeout'); the client is ended on failure. `setup` runs on the new client before
 * anything arrives, so a persistent session's queued messages find their listener.
 *
 * @example
 * const client = await connectOnce(url, { ...base, protocolVersion: 5 }, { timeoutSeconds: 10 });
 */
export function connectOnce(url: string, opts: IClientOptions, o: { timeoutSeconds: number; setup?: (client: MqttClient) => void }): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(url, opts);
    o.setup?.(client);
    let lastError: unknown;
    const finish = (e: unknown) => {
      clearTimeout(timer);
      client.removeAllListeners('connect');
      client.end(true);
      reject(e);
    };
    const timer = setTimeout(() => finish(lastError ?? 'timeout'), o.timeoutSeconds * 1000);
    client.on('error', (e) => {
      lastError = e;
      // A refusal in the CONNACK is final; a socket error is followed by 'close'.
      if (typeof (e as { code?: unknown }).code === 'number') finish(e);
    });
    client.on('close', () => finish(lastError ?? new Error('the broker closed the connection before accepting it')));
    client.once('connect', () => {
      clearTimeout(timer);
      client.removeAllListeners('close');
      client.removeAllListeners('error');
      client.on('error', () => {}); // after the handshake, failures surface through the calls that hit them
      resolve(client);
    });
  });
}

/**
 * Ends a client: a clean DISCONNECT when the broker is still there, else (or when it does not
 * finish within 2 s) a forced end; mqtt.js's own end never calls back once the broker is gone.
 */
export function closeClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const force = () => {
      client.end(true);
      resolve();
    };
    if (!client.connected) {
      force();
      return;
    }
    const timer = setTimeout(force, 2_000);
    client.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
