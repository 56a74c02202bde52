import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, keyId } from '../../../contract/index.js';
import { main } from '../../../device-agent/cli/main.js';

// `ota-agent config` in-process, over real layered files under a temp root standing in for `/`.

let root: string;
let kid: string;

async function agent(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  let err = '';
  const code = await main(['node', 'ota-agent', '--root', root, ...args], { out: (l) => out.push(l), err: (t) => (err += t), now: () => new Date() });
  return { code, out: out.join('\n'), err };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-agent-config-'));
  await mkdir(join(root, 'usr/lib/ota'), { recursive: true });
  await mkdir(join(root, 'etc/ota/agent.d'), { recursive: true });
  const key = await generateSigningKey();
  kid = await keyId(key.publicJwk);
  const keys = join(root, 'etc/ota/release.pub.jwks');
  await writeFile(keys, JSON.stringify({ keys: [{ ...key.publicJwk, kid }] }));
  await writeFile(join(root, 'usr/lib/ota/agent.yaml'), `board: b1\narch: arm64\nremote: https://u.example/fleet\ntrustedKeys: ${keys}\nbootloader: { kind: uboot, envPath: /boot/efi/ota.env }\n`);
  await writeFile(join(root, 'etc/ota/agent.yaml'), 'deviceId: gw-7\n');
  await writeFile(join(root, 'etc/ota/agent.d/50-group.yaml'), 'group: canary\n');
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('ota-agent config', () => {
  it('--json: the merged configuration with its defaults, the files in layer order, the trusted kids', async () => {
    const r = await agent('config', '--json');
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out) as { apiVersion: string; kind: string; files: string[]; config: Record<string, unknown>; trustedKids: string[] | null };
    expect(doc.apiVersion).toBe('deb-ota/v1');
    expect(doc.kind).toBe('AgentConfig');
    expect(doc.files.map((f) => f.slice(root.length))).toEqual(['/usr/lib/ota/agent.yaml', '/etc/ota/agent.yaml', '/etc/ota/agent.d/50-group.yaml']);
    expect(doc.config).toMatchObject({ deviceId: 'gw-7', group: 'canary', board: 'b1', stateDir: '/var/lib/ota', pollIntervalSeconds: 3600 });
    expect(doc.trustedKids).toEqual([kid]);
  });

  it('for a person: the files, the YAML and the key ids; an unreadable key file is said, not fatal', async () => {
    const r = await agent('config');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`# read ${join(root, 'etc/ota/agent.d/50-group.yaml')}`);
    expect(r.out).toMatch(/^deviceId: gw-7$/m);
    expect(r.out).toContain(`# trusted key ids: ${kid}`);
    await writeFile(join(root, 'etc/ota/agent.d/60-keys.yaml'), 'trustedKeys: /nonexistent/keys.jwks\n');
    const j = await agent('config', '--json');
    expect(j.code, j.err).toBe(0);
    expect((JSON.parse(j.out) as { trustedKids: unknown }).trustedKids).toBeNull();
  });

  it('a configuration that does not load is the usual error (exit 2)', async () => {
    await writeFile(join(root, 'etc/ota/agent.d/70-bad.yaml'), 'rebot: now\n');
    const r = await agent('config', '--json');
    expect(r.code).toBe(2);
    expect(r.out).toContain('ERR_OTA_AGENT_CONFIG');
  });
});
