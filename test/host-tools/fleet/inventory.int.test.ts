import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { devicePublisher, inventoryOf, statusOf } from '../../helpers/fleet-devices.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';

const TRACKER = join(import.meta.dirname, 'fixtures/debian-security-tracker.json');
let broker: Mosquitto;

const pkg = (name: string, version: string, source?: string, sourceVersion?: string) => ({ name, version, arch: 'arm64', ...(source ? { source, sourceVersion: sourceVersion ?? version } : {}) });

beforeAll(async () => {
  broker = await startMosquitto();
  const pub = await devicePublisher(broker.url);
  try {
    for (const id of ['gw-a', 'gw-b', 'gw-c', 'gw-d', 'gw-e']) await pub.retain(statusOf(id, { group: id === 'gw-d' ? 'old' : 'lab' }));
    await pub.retain(
      inventoryOf('gw-a', [
        pkg('libssl3', '3.0.11-1~deb12u2', 'openssl'),
        pkg('libc6', '2.36-9+deb12u7', 'glibc'),
        pkg('curl', '7.88.1-10+deb12u6~bpo1', 'curl'),
        pkg('zlib1g', '1:1.2.13.dfsg-1', 'zlib'),
        pkg('base-files', '12.4+deb12u9', 'base-files'),
      ], 'bookworm'),
    );
    await pub.retain(
      inventoryOf('gw-b', [
        pkg('libssl3', '3.0.13-1~deb12u1', 'openssl'),
        pkg('openssl', '3.0.13-1~deb12u1', 'openssl'),
        // A binNMU: the binary's version is not the source's, and the tracker speaks of the source's.
        pkg('libc6', '2.36-9+deb12u4+b1', 'glibc', '2.36-9+deb12u4'),
        pkg('curl', '7.88.1-10+deb12u6', 'curl'),
        pkg('zlib1g', '1:1.2.13.dfsg-1+deb12u1', 'zlib'),
      ], 'bookworm'),
    );
    // An agent that predates the source fields and the codename.
    await pub.retain(inventoryOf('gw-c', [pkg('openssl', '3.0.11-1~deb12u2')]));
    await pub.retain(inventoryOf('gw-d', [pkg('libssl1.1', '1.1.1w-0+deb11u1', 'openssl'), pkg('libc6', '2.31-13+deb11u11', 'glibc')], 'bullseye'));
    await pub.raw('gw-f', 'inventory', JSON.stringify({ ...inventoryOf('gw-f', []), packages: [{ name: 'x', version: 'not a version!', arch: 'arm64' }] }));
  } finally {
    await pub.close();
  }
});

afterAll(async () => {
  await broker?.stop();
});

type Json = Record<string, unknown>;
const json = (out: string[]) => JSON.parse(out.join('\n')) as Json;

describe('ota fleet inventory (simulated devices: retained inventories on a real mosquitto)', () => {
  it('--package by binary or source name: which devices run which version, newest first', async () => {
    const r = await ota('fleet', 'inventory', '--broker', broker.url, '--package', 'openssl', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const doc = json(r.out);
    expect(doc.devices).toBe(4);
    expect(doc.withoutInventory).toEqual(['gw-e', 'gw-f']);
    expect(doc.packages).toEqual([
      { name: 'libssl1.1', source: 'openssl', versions: [{ version: '1.1.1w-0+deb11u1', arch: 'arm64', devices: ['gw-d'] }] },
      { name: 'libssl3', source: 'openssl', versions: [{ version: '3.0.13-1~deb12u1', arch: 'arm64', devices: ['gw-b'] }, { version: '3.0.11-1~deb12u2', arch: 'arm64', devices: ['gw-a'] }] },
      { name: 'openssl', source: 'openssl', versions: [{ version: '3.0.13-1~deb12u1', arch: 'arm64', devices: ['gw-b'] }, { version: '3.0.11-1~deb12u2', arch: 'arm64', devices: ['gw-c'] }] },
    ]);
  });

  it('the table, and --group', async () => {
    const r = await ota('fleet', 'inventory', '--broker', broker.url, '--package', 'libc6', '--group', 'lab');
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('3 devices with an inventory; without one: gw-e');
    expect(r.out.slice(2)).toEqual([
      expect.stringMatching(/^PACKAGE\s+SOURCE\s+VERSION\s+ARCH\s+DEVICES$/),
      expect.stringMatching(/^libc6\s+glibc\s+2\.36-9\+deb12u7\s+arm64\s+1: gw-a$/),
      expect.stringMatching(/^libc6\s+glibc\s+2\.36-9\+deb12u4\+b1\s+arm64\s+1: gw-b$/),
    ]);
  });
});

describe('ota fleet cve (simulated devices, a hand-made tracker export)', () => {
  it("matches each device's source versions against its own release, with dpkg's order (tildes, epochs, binNMUs)", async () => {
    const r = await ota('fleet', 'cve', TRACKER, '--broker', broker.url, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const doc = json(r.out) as { exposed: { device: string; codename: string; exposures: Json[] }[]; byCve: Json[]; unknownRelease: string[]; withoutInventory: string[]; checked: number };
    expect(doc.checked).toBe(3);
    expect(doc.unknownRelease).toEqual(['gw-c']);
    expect(doc.withoutInventory).toEqual(['gw-e', 'gw-f']);
    const issues = (id: string) => doc.exposed.find((d) => d.device === id)?.exposures.map((e) => `${String(e.cve)} ${String(e.status)}`) ?? [];
    // gw-a: openssl below the fix; curl's ~bpo1 sorts before the fix; zlib below its epoch-1 fix; glibc at the fix.
    expect(issues('gw-a')).toEqual(['CVE-2023-45853 fixed-later', 'CVE-2024-0727 fixed-later', 'CVE-2024-2398 fixed-later', 'CVE-2025-0665 open', 'TEMP-0000000-1A2B3C undetermined']);
    // gw-b: all fixed but glibc, whose SOURCE version (not the binNMU's) is below the fix; curl's open issue has no fix.
    expect(issues('gw-b')).toEqual(['CVE-2024-2961 fixed-later', 'CVE-2025-0665 open']);
    expect(issues('gw-d')).toEqual(['CVE-2024-0727 fixed-later']);
    expect(doc.exposed.find((d) => d.device === 'gw-b')!.exposures[0]).toEqual({
      cve: 'CVE-2024-2961', source: 'glibc', installedVersion: '2.36-9+deb12u4', packages: ['libc6'], fixedVersion: '2.36-9+deb12u7', status: 'fixed-later', urgency: 'high',
    });
    expect(doc.byCve[0]).toMatchObject({ cve: 'CVE-2025-0665', source: 'curl', status: 'open', devices: ['gw-a', 'gw-b'] });
    expect(r.out.join('\n')).not.toContain('\\u001b');
  });

  it('--release overrides the inventories: the old agent is matched by package name, the bullseye device as bookworm', async () => {
    const r = await ota('fleet', 'cve', TRACKER, '--broker', broker.url, '--release', 'bookworm');
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('4 devices checked against release bookworm: 4 exposed to 6 issues');
    expect(r.out[1]).toBe('not checked, no inventory: gw-e, gw-f');
    const row = (cve: string) => r.out.find((l) => l.startsWith(`${cve} `)) ?? '';
    expect(row('CVE-2024-0727')).toMatch(/openssl\s+fixed in 3\.0\.13-1~deb12u1\s+not yet assigned\s+3: gw-a, gw-c, gw-d$/);
    expect(row('CVE-2024-2961')).toMatch(/glibc\s+fixed in 2\.36-9\+deb12u7\s+high\s+2: gw-b, gw-d$/);
    expect((await ota('fleet', 'cve', TRACKER, '--broker', broker.url, '--group', 'old')).out[0]).toBe("1 device checked against each device's own release: 1 exposed to 1 issue");
    expect(row('TEMP-0000000-1A2B3C')).toMatch(/base-files\s+undetermined\s+unimportant\s+1: gw-a$/);
  });

  it('a file that is not a tracker export is refused before the broker is asked', async () => {
    const r = await ota('fleet', 'cve', join(import.meta.dirname, 'fixtures'), '--broker', 'mqtt://127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.err).toContain('not a regular file');
  });
});
