import { expect, it } from 'vitest';
import type { IClientOptions } from 'mqtt';
import { endAll, forbiddenPublish, grantedQos, type AclClient } from './acl-clients.js';

/**
 * The fleet every ACL proof runs on: two devices in two groups and one operator.
 */
export const FLEET_YAML = `devices:
  - { id: gw-1, group: canary }
  - { id: gw-2, group: stable }
operators: [ops]
`;

export interface ProofBroker {
  /** Connects as a user, with further mqtt.js options (a last will). */
  connect: (user: string, extra?: IClientOptions) => Promise<AclClient>;
  /** Connections with a wrong password, none, or a certificate the broker does not trust: each must be refused. */
  refusedConnects: (() => Promise<unknown>)[];
  /** How gw-1 (the device the checks abuse) learns that a publish was refused. */
  refusedPublish: number | 'acked' | 'closed';
  /**
   * The SUBACK codes a refused subscription may get. Mosquitto's acl_file grants every
   * subscription and filters each message it would deliver instead; `ota serve` refuses it.
   */
  refusedSubscribe: number[];
}

/** The same checks against any broker that enforces `ota fleet acl`'s rules. */
export function aclProof(broker: () => ProofBroker): void {
  const open: AclClient[] = [];
  const connect = async (user: string) => {
    const c = await broker().connect(user);
    open.push(c);
    return c;
  };
  const done = () => endAll(open.splice(0));

  it('a device cannot publish as another: the message reaches nobody, while its own does', async () => {
    try {
      const ops = await connect('ops');
      expect(await grantedQos(ops, 'ota/devices/+/status')).toBe(1);
      let gw1 = await connect('gw-1');
      const how = await forbiddenPublish(gw1, 'ota/devices/gw-2/status', 'forged by gw-1');
      expect(how).toBe(broker().refusedPublish);
      if (how === 'closed') gw1 = await connect('gw-1');
      await gw1.client.publishAsync('ota/devices/gw-1/status', 'own status', { qos: 1 });
      // Ordered after the forged one by the broker: once it has arrived, the forged one never will.
      await ops.next('ota/devices/gw-1/status', 'own status');
      expect(ops.received.filter((m) => m.topic === 'ota/devices/gw-2/status')).toEqual([]);
    } finally {
      await done();
    }
  });

  it("a device cannot read another's commands: its subscription is refused, its own commands arrive", async () => {
    try {
      const gw1 = await connect('gw-1');
      expect(broker().refusedSubscribe).toContain(await grantedQos(gw1, 'ota/devices/gw-2/commands'));
      expect(broker().refusedSubscribe).toContain(await grantedQos(gw1, 'ota/devices/+/commands'));
      expect(await grantedQos(gw1, 'ota/devices/gw-1/commands')).toBe(1);
      const ops = await connect('ops');
      await ops.client.publishAsync('ota/devices/gw-2/commands', 'command for gw-2', { qos: 1 });
      await ops.client.publishAsync('ota/devices/gw-1/commands', 'command for gw-1', { qos: 1 });
      await gw1.next('ota/devices/gw-1/commands', 'command for gw-1');
      // Mosquitto may deliver gw-1's own command twice (it matches the + subscription it granted too).
      expect(gw1.received.filter((m) => m.topic !== 'ota/devices/gw-1/commands')).toEqual([]);
    } finally {
      await done();
    }
  });

  it("group commands: a device reads its own group's, not another group's, and cannot send one", async () => {
    try {
      let gw1 = await connect('gw-1');
      expect(broker().refusedSubscribe).toContain(await grantedQos(gw1, 'ota/groups/stable/commands'));
      const how = await forbiddenPublish(gw1, 'ota/groups/canary/commands', 'forged group command');
      expect(how).toBe(broker().refusedPublish);
      if (how === 'closed') gw1 = await connect('gw-1');
      expect(await grantedQos(gw1, 'ota/groups/canary/commands')).toBe(1);
      const ops = await connect('ops');
      await ops.client.publishAsync('ota/groups/stable/commands', 'command for stable', { qos: 1 });
      await ops.client.publishAsync('ota/groups/canary/commands', 'command for canary', { qos: 1 });
      await gw1.next('ota/groups/canary/commands', 'command for canary');
      expect(gw1.received.map((m) => m.payload)).toEqual(['command for canary']);
    } finally {
      await done();
    }
  });

  it("the operator publishes releases; a device reads its group's release, not another's, and cannot replace it", async () => {
    try {
      const ops = await connect('ops');
      await ops.client.publishAsync('ota/groups/canary/release', 'release for canary', { qos: 1, retain: true });
      await ops.client.publishAsync('ota/groups/stable/release', 'release for stable', { qos: 1, retain: true });
      let gw1 = await connect('gw-1');
      expect(broker().refusedSubscribe).toContain(await grantedQos(gw1, 'ota/groups/stable/release'));
      expect(await forbiddenPublish(gw1, 'ota/groups/canary/release', 'forged release', true)).toBe(broker().refusedPublish);
      gw1 = await connect('gw-1');
      expect(await grantedQos(gw1, 'ota/groups/canary/release')).toBe(1);
      await gw1.next('ota/groups/canary/release', 'release for canary');
      const gw2 = await connect('gw-2');
      expect(await grantedQos(gw2, 'ota/groups/stable/release')).toBe(1);
      await gw2.next('ota/groups/stable/release', 'release for stable');
      expect([...gw1.received, ...gw2.received].map((m) => m.payload).sort()).toEqual(['release for canary', 'release for stable']);
    } finally {
      await done();
    }
  });

  it("a device cannot leave a last will in another's name; its own will goes through", async () => {
    try {
      const ops = await connect('ops');
      expect(await grantedQos(ops, 'ota/devices/+/online')).toBe(1);
      // Both brokers take the connection and check the will when it fires (a broker may also refuse the CONNECT).
      const forger = await broker().connect('gw-1', { will: { topic: 'ota/devices/gw-2/online', payload: Buffer.from('forged will'), qos: 1, retain: true } }).catch(() => null);
      if (forger) {
        forger.client.stream.destroy();
        await forger.closed;
      }
      const own = await broker().connect('gw-1', { will: { topic: 'ota/devices/gw-1/online', payload: Buffer.from('own will'), qos: 1, retain: true } });
      own.client.stream.destroy();
      await ops.next('ota/devices/gw-1/online', 'own will');
      expect(ops.received.filter((m) => m.topic === 'ota/devices/gw-2/online')).toEqual([]);
    } finally {
      await done();
    }
  });

  it('a wrong password, no credentials, and a certificate the broker does not trust are refused', async () => {
    for (const attempt of broker().refusedConnects) await expect(attempt()).rejects.toThrow(/Not authori[sz]ed|Bad username or password|bad user name|certificate|alert|Couldn't connect|ECONNRESET/i);
  });
}
