import { DEFAULT_TOPIC_PREFIX, topics as topicsUnder } from '../../contract/topics.js';

/**
 * Who may publish and subscribe where on a fleet's broker (docs/fleet.md, "Access control"):
 * one pure function of a client's role, identity and group, from which both Mosquitto's
 * `acl_file` (acl-files.ts) and `ota serve`'s embedded broker (host-tools/serve/broker.ts)
 * derive, so the two can never disagree.
 *
 * @example
 * aclRules({ role: 'device', id: 'gw-1', group: 'canary' });
 * // [{ access: 'publish', filter: 'ota/devices/gw-1/status' }, ...,
 * //  { access: 'subscribe', filter: 'ota/groups/canary/release' }, ...]
 */
export type Identity = { role: 'device'; id: string; group: string } | { role: 'operator'; id: string };

export type Access = 'publish' | 'subscribe';

export interface AclRule {
  access: Access;
  /** An MQTT topic filter: levels, `+` for one level, `#` last for any rest. */
  filter: string;
}

export function aclRules(who: Identity, prefix: string = DEFAULT_TOPIC_PREFIX): AclRule[] {
  const t = topicsUnder(prefix);
  if (who.role === 'device') {
    const own = [t.deviceStatus, t.deviceOnline, t.deviceEvents, t.deviceTelemetry, t.deviceInventory].map((f) => f(who.id));
    return [
      ...own.map((filter) => ({ access: 'publish' as const, filter })),
      { access: 'subscribe', filter: t.groupRelease(who.group) },
      { access: 'subscribe', filter: t.groupRollout(who.group) },
      { access: 'subscribe', filter: t.groupCommands(who.group) },
      { access: 'subscribe', filter: t.deviceCommands(who.id) },
    ];
  }
  // The operator publishes only what devices verify (signed releases, rollouts and commands) and reads
  // every device's documents. The topic builders refuse `+`, so a placeholder id stands in its
  // level and is swapped for the wildcard after the prefix.
  const anyOne = (topic: string) => prefix + topic.slice(prefix.length).replace(`/${PLACEHOLDER}/`, '/+/');
  return [
    { access: 'publish', filter: anyOne(t.groupRelease(PLACEHOLDER)) },
    { access: 'publish', filter: anyOne(t.groupRollout(PLACEHOLDER)) },
    { access: 'publish', filter: anyOne(t.groupCommands(PLACEHOLDER)) },
    { access: 'publish', filter: anyOne(t.deviceCommands(PLACEHOLDER)) },
    // `ota fleet` learns where the broker's retained burst ends by a message to itself
    // (docs/fleet.md, "The end of the retained burst"); nothing else reads these topics.
    { access: 'publish', filter: `${prefix}/fleet/probe/+` },
    { access: 'subscribe', filter: `${prefix}/#` },
  ];
}

const PLACEHOLDER = 'any-id-placeholder';

/**
 * Whether `filter` matches every topic `wanted` matches: for a publish, `wanted` is a topic name;
 * for a subscribe, the client's own filter, which may hold wildcards that only a wildcard at the
 * same level (or a `#` before it) covers.
 *
 * @example
 * covers('ota/devices/+/status', 'ota/devices/gw-1/status'); // true
 * covers('ota/devices/gw-1/status', 'ota/devices/+/status'); // false
 */
export function covers(filter: string, wanted: string): boolean {
  const f = filter.split('/');
  const w = wanted.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= w.length) return false;
    if (w[i] === '#') return false;
    if (f[i] === '+') continue;
    if (w[i] === '+' || f[i] !== w[i]) return false;
  }
  return f.length === w.length;
}

/** Whether the rules let a client publish to a topic, or subscribe with a filter. */
export function allowed(rules: readonly AclRule[], access: Access, topicOrFilter: string): boolean {
  // `$SYS/...` and any other topic outside the rules are refused, as Mosquitto's acl_file does.
  return rules.some((r) => r.access === access && covers(r.filter, topicOrFilter));
}
