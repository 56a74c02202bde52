import { describe, expect, it } from 'vitest';
import { aclRules, allowed, covers } from '../../../host-tools/fleet/acl-rules.js';
import { mosquittoAcl } from '../../../host-tools/fleet/acl-files.js';
import { checkPasswdHash, passwdLine } from '../../../host-tools/fleet/acl-password.js';

const gw1 = aclRules({ role: 'device', id: 'gw-1', group: 'canary' });
const ops = aclRules({ role: 'operator', id: 'ops' });

describe('aclRules: one function of role, identity and group', () => {
  it('a device publishes only its own documents and reads only its group release and its own commands', () => {
    expect(allowed(gw1, 'publish', 'ota/devices/gw-1/status')).toBe(true);
    expect(allowed(gw1, 'publish', 'ota/devices/gw-1/online')).toBe(true);
    expect(allowed(gw1, 'publish', 'ota/devices/gw-2/status')).toBe(false);
    expect(allowed(gw1, 'publish', 'ota/devices/gw-1/commands')).toBe(false);
    expect(allowed(gw1, 'publish', 'ota/groups/canary/release')).toBe(false);
    expect(allowed(gw1, 'subscribe', 'ota/groups/canary/release')).toBe(true);
    expect(allowed(gw1, 'subscribe', 'ota/groups/stable/release')).toBe(false);
    expect(allowed(gw1, 'subscribe', 'ota/groups/canary/rollout')).toBe(true);
    expect(allowed(gw1, 'subscribe', 'ota/groups/stable/rollout')).toBe(false);
    expect(allowed(gw1, 'publish', 'ota/groups/canary/rollout')).toBe(false);
    expect(allowed(gw1, 'subscribe', 'ota/groups/canary/commands')).toBe(true);
    expect(allowed(gw1, 'subscribe', 'ota/groups/stable/commands')).toBe(false);
    expect(allowed(gw1, 'publish', 'ota/groups/canary/commands')).toBe(false);
    expect(allowed(gw1, 'subscribe', 'ota/devices/gw-1/commands')).toBe(true);
    expect(allowed(gw1, 'subscribe', 'ota/devices/+/commands')).toBe(false);
    expect(allowed(gw1, 'subscribe', 'ota/#')).toBe(false);
    expect(allowed(gw1, 'subscribe', '$SYS/#')).toBe(false);
  });

  it('the operator publishes releases and commands, reads everything under the prefix, and publishes no device document', () => {
    expect(allowed(ops, 'publish', 'ota/groups/canary/release')).toBe(true);
    expect(allowed(ops, 'publish', 'ota/groups/canary/rollout')).toBe(true);
    expect(allowed(ops, 'publish', 'ota/devices/gw-1/commands')).toBe(true);
    expect(allowed(ops, 'publish', 'ota/groups/canary/commands')).toBe(true);
    expect(allowed(ops, 'publish', 'ota/devices/gw-1/status')).toBe(false);
    expect(allowed(ops, 'publish', 'ota/fleet/probe/0123abcd')).toBe(true);
    expect(allowed(gw1, 'publish', 'ota/fleet/probe/0123abcd')).toBe(false);
    expect(allowed(ops, 'subscribe', 'ota/devices/+/status')).toBe(true);
    expect(allowed(ops, 'subscribe', 'ota/#')).toBe(true);
    expect(allowed(ops, 'subscribe', 'other/#')).toBe(false);
  });

  it('follows the topic prefix, over several levels', () => {
    const r = aclRules({ role: 'device', id: 'gw-1', group: 'canary' }, 'plant-3/ota');
    expect(allowed(r, 'publish', 'plant-3/ota/devices/gw-1/status')).toBe(true);
    expect(allowed(r, 'publish', 'ota/devices/gw-1/status')).toBe(false);
    expect(aclRules({ role: 'operator', id: 'ops' }, 'plant-3/ota').map((x) => x.filter)).toEqual(['plant-3/ota/groups/+/release', 'plant-3/ota/groups/+/rollout', 'plant-3/ota/groups/+/commands', 'plant-3/ota/devices/+/commands', 'plant-3/ota/fleet/probe/+', 'plant-3/ota/#']);
  });

  it('refuses an id or prefix that could reach other topics', () => {
    expect(() => aclRules({ role: 'device', id: 'gw/#', group: 'canary' })).toThrow(/invalid device id/);
    expect(() => aclRules({ role: 'device', id: 'gw-1', group: '+' })).toThrow(/invalid group/);
    expect(() => aclRules({ role: 'operator', id: 'ops' }, 'a/#')).toThrow(/invalid MQTT topic prefix/);
  });
});

describe('covers: a filter covering a topic or a narrower filter', () => {
  it.each([
    ['a/+/c', 'a/b/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/+/c', 'a/+/c', true],
    ['a/b/c', 'a/+/c', false],
    ['a/+/c', 'a/#', false],
    ['a/+', 'a/b/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
  ])('%s covers %s: %s', (filter, wanted, want) => {
    expect(covers(filter, wanted)).toBe(want);
  });
});

describe("Mosquitto's files", () => {
  it('acl_file: a user block per identity, write for publish, read for subscribe', () => {
    const text = mosquittoAcl({ apiVersion: 'deb-ota/v1', kind: 'FleetAcl', prefix: 'ota', devices: [{ id: 'gw-1', group: 'canary' }], operators: ['ops'], brokerNames: [] });
    const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual([
      'user ops',
      'topic write ota/groups/+/release',
      'topic write ota/groups/+/rollout',
      'topic write ota/groups/+/commands',
      'topic write ota/devices/+/commands',
      'topic write ota/fleet/probe/+',
      'topic read ota/#',
      'user gw-1',
      ...gw1.map((r) => `topic ${r.access === 'publish' ? 'write' : 'read'} ${r.filter}`),
    ]);
  });

  it("passwd lines: a hash mosquitto_passwd made checks, ours check, a wrong password does not", () => {
    // Made by Mosquitto 2.0.11's `mosquitto_passwd -b FILE alice secret`.
    const theirs = '$7$101$fh57Y3TS0k+xZu61$9OZwyKQhgBRDcqEwIAFGLlD0JgTmgL2E9BLWhF+FutKu+AXBwSP+V0ff7lW2IoRSSxdMosi7Pdf5D5MNQIRGqw==';
    expect(checkPasswdHash(theirs, 'secret')).toBe(true);
    expect(checkPasswdHash(theirs, 'Secret')).toBe(false);
    const ours = passwdLine('gw-1', 'pw');
    expect(ours).toMatch(/^gw-1:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(checkPasswdHash(ours.slice('gw-1:'.length), 'pw')).toBe(true);
    expect(checkPasswdHash('$6$salt$hash', 'pw')).toBe(false);
  });
});
