import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleAgent } from '../../../scripts/build-agent/bundle.js';
import { planAgentBuild, type Pins } from '../../../scripts/build-agent/plan.js';

// The executable's scripts (docs/agent.md, "Shipping the agent"), bundled as build:agent bundles
// them, without Node or a network: what the relay's script holds.

const REPO = join(import.meta.dirname, '../../..');
const pins = JSON.parse(await readFile(join(REPO, 'scripts/build-agent/pins.json'), 'utf8')) as Pins;
const koffiNode = join(REPO, 'node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node');
const plan = planAgentBuild({ pins, arches: ['amd64', 'armhf'], hostArch: 'amd64', version: '0.1.0', koffiVersion: pins.koffi.amd64.version, outDir: '/o', cacheDir: '/c' });
const HEAVY = /(^|\/)node_modules\/(zod|yaml|jose|commander|undici|koffi|systeminformation)\//;

describe('the executable scripts', () => {
  it("where Node has assets, the relay's script holds the relay and no CLI, schema, JOSE, HTTP or native library; the CLI is its own", async () => {
    const b = await bundleAgent(plan.targets[0]!, { version: '0.1.0', koffiNode });
    expect(b.mainInputs.filter((p) => HEAVY.test(p) || /(^|\/)node-ostree\//.test(p) || /device-agent\/cli\//.test(p))).toEqual([]);
    expect(b.mainInputs).toContain('device-agent/daemon/relay.ts');
    expect(b.cli).not.toBeNull();
    const cli = new TextDecoder().decode(b.cli!);
    expect(cli).toContain('ota-agent');
    // No import.meta is left for esbuild to empty in either script.
    for (const script of [new TextDecoder().decode(b.script), cli]) expect(script).not.toMatch(/import\.meta/);
  }, 60_000);

  it("takes mqtt.js's client alone, with Node's streams and timers: no WebSocket, SOCKS, stream copy or browser timers", async () => {
    const b = await bundleAgent(plan.targets[0]!, { version: '0.1.0', koffiNode });
    expect(b.mainInputs.filter((p) => /(^|\/)node_modules\/mqtt\/build\/lib\/client\.js$/.test(p))).toHaveLength(1);
    const browserOnly = /node_modules\/(ws|socks|ip-address|readable-stream|worker-timers|worker-timers-broker)\/|node_modules\/mqtt\/build\/(index|lib\/connect\/)/;
    expect(b.mainInputs.filter((p) => browserOnly.test(p))).toEqual([]);
  }, 60_000);

  it('for Node 20.11 the CLI and koffi ride in the one script', async () => {
    const b = await bundleAgent(plan.targets[1]!, { version: '0.1.0', koffiNode });
    expect(b.cli).toBeNull();
    expect(b.mainInputs.some((p) => /node_modules\/koffi\//.test(p))).toBe(true);
    expect(b.mainInputs).toContain('device-agent/cli/process.ts');
  }, 60_000);
});
