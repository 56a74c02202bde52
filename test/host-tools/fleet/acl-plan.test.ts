import { describe, expect, it } from 'vitest';
import { parseDevicesFile } from '../../../host-tools/fleet/acl-devices.js';
import { planAcl, type ExistingAcl } from '../../../host-tools/fleet/acl-plan.js';

const fleet = parseDevicesFile('devices:\n  - { id: gw-1, group: canary }\n  - { id: gw-3, group: canary }\n', 'fleet.yaml');
const options = { prefix: 'ota', brokerNames: ['localhost'], rotate: [] };

function existing(over: Partial<ExistingAcl> = {}): ExistingAcl {
  return {
    manifest: { apiVersion: 'deb-ota/v1', kind: 'FleetAcl', prefix: 'ota', devices: [{ id: 'gw-1', group: 'canary' }, { id: 'gw-2', group: 'stable' }], operators: ['operator'], brokerNames: ['localhost'] },
    hasCa: true,
    hasServerCert: true,
    passwords: new Set(['gw-1', 'gw-2', 'operator']),
    certs: new Set(['gw-1', 'gw-2', 'operator']),
    ...over,
  };
}

describe('the devices file', () => {
  it('takes YAML and JSON, with one operator named operator by default', () => {
    expect(fleet).toEqual({ devices: [{ id: 'gw-1', group: 'canary' }, { id: 'gw-3', group: 'canary' }], operators: ['operator'] });
    expect(parseDevicesFile('{"devices":[{"id":"gw-1","group":"lab"}],"operators":["ci"]}', 'fleet.json')).toEqual({ devices: [{ id: 'gw-1', group: 'lab' }], operators: ['ci'] });
  });

  it.each([
    ['an unknown key', 'devices:\n  - { id: gw-1, group: lab, grup: x }\n', /unknown key "grup" at devices\[0\] \(fleet.yaml:2\)/],
    ['an id that is no contract device name', 'devices:\n  - { id: "gw/1", group: lab }\n', /devices\[0\]\.id/],
    ['a duplicate id', 'devices:\n  - { id: gw-1, group: lab }\n  - { id: gw-1, group: canary }\n', /"gw-1" appears twice \(devices\[0\] and devices\[1\]\)/],
    ['an operator named like a device', 'devices:\n  - { id: ops, group: lab }\noperators: [ops]\n', /"ops" appears twice \(devices\[0\] and operators\[0\]\)/],
    ['a missing group', 'devices:\n  - { id: gw-1 }\n', /missing required key "devices\[0\]\.group"/],
  ])('refuses %s, naming where', (_what, text, message) => {
    expect(() => parseDevicesFile(text, 'fleet.yaml')).toThrow(message);
  });
});

describe('planAcl', () => {
  it('a first run makes everything new', () => {
    const p = planAcl(fleet, null, options);
    expect([p.ca, p.serverCert]).toEqual(['new', 'new']);
    expect(p.users.map((u) => [u.id, u.role, u.password, u.cert, u.added])).toEqual([
      ['operator', 'operator', 'new', 'new', true],
      ['gw-1', 'device', 'new', 'new', true],
      ['gw-3', 'device', 'new', 'new', true],
    ]);
    expect(p.removed).toEqual([]);
  });

  it('a re-run keeps the CA and what each user has, adds new devices and drops the ones gone', () => {
    const p = planAcl(fleet, existing(), options);
    expect([p.ca, p.serverCert]).toEqual(['kept', 'kept']);
    expect(p.users.map((u) => [u.id, u.password, u.cert, u.added])).toEqual([
      ['operator', 'kept', 'kept', false],
      ['gw-1', 'kept', 'kept', false],
      ['gw-3', 'new', 'new', true],
    ]);
    expect(p.removed).toEqual(['gw-2']);
  });

  it('rotates only what it is told to; a new CA means new certificates', () => {
    expect(planAcl(fleet, existing(), { ...options, rotate: ['passwords'] }).users.map((u) => [u.password, u.cert])).toEqual([['new', 'kept'], ['new', 'kept'], ['new', 'new']]);
    expect(planAcl(fleet, existing(), { ...options, rotate: ['certs'] }).users.map((u) => [u.password, u.cert])).toEqual([['kept', 'new'], ['kept', 'new'], ['new', 'new']]);
    const ca = planAcl(fleet, existing(), { ...options, rotate: ['ca'] });
    expect([ca.ca, ca.serverCert, ...ca.users.map((u) => u.cert)]).toEqual(['new', 'new', 'new', 'new', 'new']);
  });

  it('a missing CA key, or other broker names, make what depends on them new', () => {
    const noCa = planAcl(fleet, existing({ hasCa: false }), options);
    expect([noCa.ca, noCa.serverCert, noCa.users[1]!.cert, noCa.users[1]!.password]).toEqual(['new', 'new', 'new', 'kept']);
    expect(planAcl(fleet, existing(), { ...options, brokerNames: ['mqtt.example'] }).serverCert).toBe('new');
  });

  it('refuses a bad prefix or broker name before deciding anything', () => {
    expect(() => planAcl(fleet, null, { ...options, prefix: 'ota/#' })).toThrow(/invalid MQTT topic prefix/);
    expect(() => planAcl(fleet, null, { ...options, brokerNames: ['a b'] })).toThrow(/invalid broker name/);
  });
});
