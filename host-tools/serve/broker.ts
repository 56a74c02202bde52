import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import type { BrokerAcl } from '../fleet/acl-load.js';
import type { Identity } from '../fleet/acl-rules.js';

/**
 * The MQTT half of `ota serve`: an embedded broker (aedes, MQTT 3.1.1; its MQTT 5 is not
 * released, so every client of ours falls back to 3.1.1) for a lab or a small fleet. Retained
 * messages live in memory: after a restart, `ota announce` sends each group's release again
 * (docs/releases.md, "Serving"). Without `acl` anyone who reaches the port may do anything;
 * with it, the rules of an `ota fleet acl` folder hold (docs/fleet.md, "Access control").
 *
 * @example
 * const broker = await startBroker({ acl: await loadBrokerAcl('acl/') });
 * broker.server.listen(1883, '127.0.0.1');
 * await broker.close();
 */
export interface EmbeddedBroker {
  server: Server;
  /**
   * With an ACL: a second listener, TLS with required client certificates signed by the fleet
   * CA, where the certificate's CN is the identity (Mosquitto's `use_identity_as_username`).
   */
  tlsServer: Server | null;
  /** Closes the listener, every client connection and the broker. */
  close: () => Promise<void>;
}

export interface BrokerOptions {
  /** User names, passwords and topic rules; absent: no authentication at all. */
  acl?: BrokerAcl;
}

export async function startBroker(options: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker(options.acl ? aclHandlers(options.acl) : {});
  const server = createServer(aedes.handle);
  const tls = options.acl?.tls;
  const tlsServer = tls ? createTlsServer({ ...tls, requestCert: true, rejectUnauthorized: true }, aedes.handle) : null;
  const sockets = new Set<import('node:net').Socket>();
  for (const s of [server, tlsServer]) {
    s?.on(s === server ? 'connection' : 'secureConnection', (c: import('node:net').Socket) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
    });
  }
  const closeServer = (s: Server | null) => new Promise<void>((resolve) => (s?.listening ? s.close(() => resolve()) : resolve()));
  const close = async () => {
    const closed = Promise.all([closeServer(server), closeServer(tlsServer)]);
    for (const s of sockets) s.destroy();
    await closed;
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  };
  return { server, tlsServer, close };
}

/**
 * aedes' hooks from the fleet's rules. A refused publish closes the client's connection: MQTT
 * 3.1.1 lets a broker either acknowledge and drop it (Mosquitto) or disconnect (aedes' only
 * way), and either way nobody receives it. A refused subscription gets the failure code 128 in
 * its SUBACK, as on Mosquitto.
 */
function aclHandlers(acl: BrokerAcl): AedesOptions {
  // Keyed by aedes' client object, not by the client id a client chooses for itself.
  const who = new WeakMap<Client, Identity>();
  return {
    authenticate: (client, username, password, done) => {
      const id = client.conn instanceof TLSSocket ? certificateIdentity(acl, client.conn) : username === undefined || password === undefined ? null : acl.authenticate(username, password.toString('utf8'));
      if (id === null) {
        // 4: bad user name or password (MQTT 3.1.1, CONNACK return codes).
        done(Object.assign(new Error('bad user name or password'), { returnCode: 4 as AuthenticateError['returnCode'] }), false);
        return;
      }
      who.set(client, id);
      done(null, true);
    },
    authorizePublish: (client, packet, done) => {
      const id = client ? who.get(client) : undefined;
      done(id !== undefined && acl.may(id, 'publish', packet.topic) ? null : new Error(`not authorized to publish to ${packet.topic}`));
    },
    authorizeSubscribe: (client, sub, done) => {
      const id = who.get(client);
      done(null, id !== undefined && acl.may(id, 'subscribe', sub.topic) ? sub : null);
    },
  };
}

/** On the TLS listener the certificate is the credential: its CN names the user, whatever user name the client sends. */
function certificateIdentity(acl: BrokerAcl, socket: TLSSocket): Identity | null {
  if (!socket.authorized) return null;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? acl.byCertificate(cn) : null;
}
