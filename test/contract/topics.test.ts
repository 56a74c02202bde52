import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { topics } from '../../contract/index.js';

describe('topics', () => {
  it('names every topic of docs/contract.md under the default prefix', () => {
    const t = topics();
    expect(t.groupRelease('canary')).toBe('ota/groups/canary/release');
    expect(t.groupCommands('canary')).toBe('ota/groups/canary/commands');
    expect(t.deviceCommands('gw-1')).toBe('ota/devices/gw-1/commands');
    expect(t.deviceStatus('gw-1')).toBe('ota/devices/gw-1/status');
    expect(t.deviceOnline('gw-1')).toBe('ota/devices/gw-1/online');
    expect(t.deviceEvents('gw-1')).toBe('ota/devices/gw-1/events');
    expect(t.deviceTelemetry('gw-1')).toBe('ota/devices/gw-1/telemetry');
    expect(t.deviceInventory('gw-1')).toBe('ota/devices/gw-1/inventory');
  });

  it('puts them under a prefix of several levels', () => {
    expect(topics('plant-3/ota').deviceStatus('gw.1_a')).toBe('plant-3/ota/devices/gw.1_a/status');
  });

  it.each(['a/b', '+', '#', '', 'x'.repeat(65), '-lead', 'gw 1'])('refuses the id %j, which could reach other topics', (id) => {
    expect(() => topics().deviceStatus(id)).toThrow(OtaError);
    expect(() => topics().groupRelease(id)).toThrow(OtaError);
    expect(() => topics().groupCommands(id)).toThrow(OtaError);
  });

  it.each(['', 'a//b', '/ota', 'ota/', 'ota/+', '#'])('refuses the prefix %j', (prefix) => {
    expect(() => topics(prefix)).toThrow(OtaError);
  });
});

// The device agent's long-lived daemon builds topic names and checks sizes and JWS headers without
// loading zod (docs/contract.md, "Size limits"): these modules must stay free of it.
describe('the zod-free corner of the contract', () => {
  it.each(['topics.ts', 'limits.ts'])('bundling contract/%s pulls in no zod', async (file) => {
    const result = await build({
      entryPoints: [join(import.meta.dirname, '../../contract', file)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.endsWith(`contract/${file}`))).toBe(true);
    expect(inputs.filter((i) => /node_modules\/|contract\/(fields|kinds|documents)/.test(i))).toEqual([]);
  });
});
