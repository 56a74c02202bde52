import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

/**
 * The MQTT half of `ota serve`: an embedded broker (aedes, MQTT 3.1.1; its MQTT 5 is not
 * released, so every client of ours falls back to 3.1.1) for a lab or a small fleet. Retained
 * messages live in memory: after a restart, `ota announce` sends each group's release again
 * (docs/releases.md, "Serving").
 *
 * @example
 * const broker = await startBroker();
 * broker.server.listen(1883, '127.0.0.1');
 * await broker.close();
 */
export interface EmbeddedBroker {
  server: Server;
  /** Closes the listener, every client connection and the broker. */
  close: () => Promise<void>;
}

export async function startBroker(): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const close = async () => {
    const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    for (const s of sockets) s.destroy();
    await closed;
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  };
  return { server, close };
}
