/**
 * The fleet's retained documents read from a broker
 * (docs/fleet.md, "The end of the retained burst"). A broker sends what it retained right after a subscription and never says when it is
 * done, so after subscribing the feed publishes a probe (QoS 1, not retained) on a topic of its
 * own, `<prefix>/fleet/probe/<random>`, to which it is subscribed too. A broker delivers one
 * connection's QoS 1 messages in the order it queued them, and it queued the retained burst when it
 * accepted the subscriptions, before the probe arrived: so the probe comes back after the last
 * retained message. Not every broker queues them so: aedes (`ota serve`) streams them on their
 * own and lets the probe overtake them, so the burst ends only once, after the probe, no message
 * came for a short settle time. Where the probe cannot go through (an ACL refuses it, or drops it silently), a
 * quiet period after the last message ends the burst instead, and the result says which.
 *
 * @example
 * const feed = await openFleetFeed({ broker, prefix: 'ota', topics: ['status', 'online'], onMessage: (t, p) => applyMessage(fleet, t, p) });
 * const end = await feed.burstEnd; // 'probe' | 'quiet'
 * await feed.close();
 */
import { randomBytes } from 'node:crypto';
import { connectBroker, type BrokerOptions, type BrokerSession } from '../mqtt/client.js';

export type BurstEnd = 'probe' | 'quiet';

export interface FleetFeedOptions {
  broker: BrokerOptions;
  prefix: string;
  /** Topic filters under the prefix, e.g. `devices/+/status`. */
  filters: string[];
  /** Each message but the probe, retained or not, in the order the broker sent them. */
  onMessage: (topic: string, payload: Buffer, retained: boolean) => void;
  /** The quiet period that ends the burst when the probe cannot (default 2 s). */
  quietSeconds?: number;
  /** After the probe, how long without a message ends the burst (default 500 ms). */
  settleMs?: number;
  /** How long the probe may take once the broker accepted it before the quiet period decides (default 10 s). */
  probeSeconds?: number;
}

export interface FleetFeed {
  session: BrokerSession;
  /** Resolves once the retained documents have all arrived, saying how that was known. */
  burstEnd: Promise<BurstEnd>;
  /** Messages received before the burst ended (docs/fleet.md, "Large fleets on Mosquitto"). */
  burstMessages: () => number;
  close: () => Promise<void>;
}

export async function openFleetFeed(o: FleetFeedOptions): Promise<FleetFeed> {
  const session = await connectBroker(o.broker);
  const probeTopic = `${o.prefix}/fleet/probe/${randomBytes(8).toString('hex')}`;
  const end = burstTracker(o.quietSeconds ?? 2, o.settleMs ?? 500);
  let inBurst = 0;
  let ended = false;
  void end.promise.then(() => (ended = true));
  session.onMessage((topic, payload, retained) => {
    if (topic === probeTopic) return end.probe();
    if (!ended) inBurst++;
    end.saw();
    o.onMessage(topic, payload, retained);
  });
  try {
    for (const f of o.filters) await session.subscribe(`${o.prefix}/${f}`, 1);
    await session.subscribe(probeTopic, 1);
  } catch (e) {
    await session.close();
    throw e;
  }
  session.publish(probeTopic, 'end of the retained burst', { qos: 1, retain: false }).then(
    () => end.fallBackAfter(o.probeSeconds ?? 10),
    () => end.fallBackAfter(0),
  );
  return {
    session,
    burstEnd: end.promise,
    burstMessages: () => inBurst,
    close: async () => {
      end.dispose();
      await session.close();
    },
  };
}

/**
 * The burst's end as a small state machine: the probe, then `settleMs` without a message (a broker
 * that streams its retained messages apart from its queue, as aedes does, lets the probe overtake
 * them); or, once the probe is given up on, a quiet period.
 */
function burstTracker(quietSeconds: number, settleMs: number) {
  let resolve!: (e: BurstEnd) => void;
  const promise = new Promise<BurstEnd>((r) => (resolve = r));
  let done = false;
  let probeSeen = false;
  let quietAllowed = false;
  let timer: NodeJS.Timeout | undefined;
  let fallback: NodeJS.Timeout | undefined;
  const finish = (e: BurstEnd) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    clearTimeout(fallback);
    resolve(e);
  };
  const arm = () => {
    clearTimeout(timer);
    if (done) return;
    if (probeSeen) timer = setTimeout(() => finish('probe'), settleMs);
    else if (quietAllowed) timer = setTimeout(() => finish('quiet'), quietSeconds * 1000);
  };
  return {
    promise,
    probe: () => {
      probeSeen = true;
      arm();
    },
    saw: arm,
    fallBackAfter: (seconds: number) => {
      fallback = setTimeout(() => {
        quietAllowed = true;
        arm();
      }, seconds * 1000);
    },
    dispose: () => finish('quiet'),
  };
}
