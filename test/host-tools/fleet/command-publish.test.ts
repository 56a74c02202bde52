import { describe, expect, it } from 'vitest';
import { generateSigningKey, loadTrustedKeys, readSigned } from '../../../contract/index.js';
import { COMMAND_LIFETIME_SECONDS, commandTopic, signFleetCommand } from '../../../host-tools/fleet/command-publish.js';

describe('signFleetCommand: what the devices verify', () => {
  it('a command readSigned accepts with the key, a fresh nonce each time, and the short expiry', async () => {
    const key = await generateSigningKey();
    const trusted = await loadTrustedKeys({ keys: [key.publicJwk] });
    const now = new Date('2026-03-01T12:00:00Z');
    const a = await signFleetCommand({ key, target: { group: 'lab' }, action: { type: 'rollback', version: '1.1', onlyFrom: '1.2' }, reason: 'abort', now });
    const b = await signFleetCommand({ key, target: { group: 'lab' }, action: { type: 'rollback', version: '1.1', onlyFrom: '1.2' }, reason: 'abort', now });
    const v = await readSigned('command', a.jws, trusted, { now });
    expect(v.doc).toMatchObject({ target: { group: 'lab' }, action: { type: 'rollback', version: '1.1', onlyFrom: '1.2' }, reason: 'abort' });
    expect(v.nonce).toBe(a.nonce);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.expiresAt.getTime() - a.issuedAt.getTime()).toBe(COMMAND_LIFETIME_SECONDS * 1000);
    expect(v.expiresAt).toEqual(a.expiresAt);
  });

  it('refuses to sign what the schema refuses: belowFloor without a version, an unknown key', async () => {
    const key = await generateSigningKey();
    await expect(signFleetCommand({ key, target: { device: 'gw-1' }, action: { type: 'rollback', belowFloor: true }, reason: null })).rejects.toThrow(/belowFloor needs a version/);
    await expect(signFleetCommand({ key, target: { device: 'gw-1' }, action: { type: 'rollback', onlyfrom: '1.0' } as never, reason: null })).rejects.toThrow(/cannot sign the command/);
  });

  it("goes to the device's commands topic or the group's", () => {
    expect(commandTopic('ota', { device: 'gw-1' })).toBe('ota/devices/gw-1/commands');
    expect(commandTopic('plant/ota', { group: 'lab' })).toBe('plant/ota/groups/lab/commands');
  });
});
