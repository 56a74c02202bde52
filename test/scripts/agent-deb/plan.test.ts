import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { relayNodeFlags, seaRelayLaunch } from '../../../device-agent/daemon/node-flags.js';
import { FALLBACK_LINKED, RUNTIME_DEPENDS } from '../../../scripts/agent-deb/elf.js';
import { agentDebPlan, md5sumsText, type AgentDebInput } from '../../../scripts/agent-deb/plan.js';
import { agentUnit } from '../../../scripts/agent-deb/unit.js';
import { parse } from 'yaml';

const INPUT: AgentDebInput = { arch: 'arm64', version: '0.1.0', binaryBytes: 90_000_000, epochSeconds: 1_700_000_000, nodeOptions: '--jitless' };

function field(control: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'm').exec(control)?.[1];
}

function text(plan: ReturnType<typeof agentDebPlan>, path: string): string {
  const e = plan.entries.find((x) => x.path === path);
  if (e?.content.kind !== 'text') throw new Error(`${path} is not a text file in the plan`);
  return Buffer.from(e.content.bytes).toString('utf8');
}

describe('agentDebPlan', () => {
  it('names the package by version and arch, with the control fields dpkg needs', () => {
    for (const arch of ['amd64', 'arm64', 'armhf']) {
      const plan = agentDebPlan({ ...INPUT, arch });
      expect(plan.fileName).toBe(`ota-agent_0.1.0_${arch}.deb`);
      expect(field(plan.control, 'Package')).toBe('ota-agent');
      expect(field(plan.control, 'Architecture')).toBe(arch);
      expect(field(plan.control, 'Depends')).toBe([...FALLBACK_LINKED, ...RUNTIME_DEPENDS].join(', '));
      expect(field(plan.control, 'Maintainer')).toMatch(/^.+ <.+@.+>$/);
      expect(field(plan.control, 'Description')).toBeTruthy();
      // The executable dominates Installed-Size, in KiB.
      expect(Number(field(plan.control, 'Installed-Size'))).toBeGreaterThanOrEqual(Math.ceil(INPUT.binaryBytes / 1024));
      expect(text(plan, 'usr/lib/ota/agent.yaml')).toContain(`arch: ${arch}`);
    }
    expect(field(agentDebPlan({ ...INPUT, maintainer: 'A B <a@b.example>' }).control, 'Maintainer')).toBe('A B <a@b.example>');
    // What the executable links comes first, then what it loads or runs (libostree, systemd).
    expect(field(agentDebPlan({ ...INPUT, linked: ['libc6 (>= 2.34)'] }).control, 'Depends')).toBe(['libc6 (>= 2.34)', ...RUNTIME_DEPENDS].join(', '));
  });

  it('refuses an unknown arch or a version Debian would not take, before anything is written', () => {
    expect(() => agentDebPlan({ ...INPUT, arch: 'x86_64' })).toThrow(/no architecture "x86_64"/);
    expect(() => agentDebPlan({ ...INPUT, version: '1.0-rc1' })).toThrow(/not a Debian version/);
    expect(() => agentDebPlan({ ...INPUT, version: '1:1.0' })).toThrow(/not a Debian version/);
  });

  it('holds the executable, the unit, both config layers, the health folders and its docs, folders first, sorted', () => {
    const plan = agentDebPlan(INPUT);
    const modes = Object.fromEntries(plan.entries.map((e) => [e.path, [e.content.kind, e.mode.toString(8)]]));
    expect(modes['usr/bin/ota-agent']).toEqual(['binary', '755']);
    expect(modes['lib/systemd/system/ota-agent.service']).toEqual(['text', '644']);
    expect(modes['usr/lib/ota/agent.yaml']).toEqual(['text', '644']);
    expect(modes['etc/ota/agent.yaml']).toEqual(['text', '644']);
    for (const d of ['etc/ota/agent.d', 'etc/ota/health/required.d', 'etc/ota/health/wanted.d', 'etc/greenboot/check/required.d', 'etc/greenboot/check/wanted.d']) {
      expect(modes[d]).toEqual(['dir', '755']);
    }
    expect(modes['usr/share/doc/ota-agent/copyright']).toEqual(['text', '644']);
    const paths = plan.entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    for (const p of paths) {
      const parent = p.slice(0, p.lastIndexOf('/'));
      if (parent !== '') expect(paths.indexOf(parent), `${parent} before ${p}`).toBeLessThan(paths.indexOf(p));
    }
    // What lives in /etc is the device owner's to edit: conffiles, so an upgrade keeps their changes.
    expect(plan.conffiles).toEqual(['/etc/ota/agent.yaml']);
    expect(Object.keys(plan.scripts).sort()).toEqual(['postinst', 'postrm', 'prerm']);
    expect(plan.scripts.postinst).toContain("deb-systemd-helper enable 'ota-agent.service'");
  });

  it('with the CLI\'s pages: the man page gzipped in section 1, the completions where bash and zsh look', () => {
    const plan = agentDebPlan({ ...INPUT, pages: { man: '.TH OTA\\-AGENT 1\n', bash: 'complete -F _x ota-agent\n', zsh: '#compdef ota-agent\n' } });
    const man = plan.entries.find((e) => e.path === 'usr/share/man/man1/ota-agent.1.gz')?.content as { bytes: Uint8Array };
    expect(gunzipSync(man.bytes).toString()).toBe('.TH OTA\\-AGENT 1\n');
    expect(text(plan, 'usr/share/bash-completion/completions/ota-agent')).toBe('complete -F _x ota-agent\n');
    expect(text(plan, 'usr/share/zsh/vendor-completions/_ota-agent')).toBe('#compdef ota-agent\n');
    expect(agentDebPlan(INPUT).entries.some((e) => e.path.startsWith('usr/share/man'))).toBe(false);
  });

  it('its layers of the configuration parse as YAML; the device template is all comments (an empty layer)', () => {
    const plan = agentDebPlan(INPUT);
    expect(parse(text(plan, 'usr/lib/ota/agent.yaml'))).toEqual({ arch: 'arm64', deviceId: { fromMachineId: true } });
    expect(parse(text(plan, 'etc/ota/agent.yaml'))).toBeNull();
  });

  it('the changelog is dated by SOURCE_DATE_EPOCH, so the same input gives the same bytes', () => {
    const a = agentDebPlan(INPUT);
    const changelog = (p: ReturnType<typeof agentDebPlan>) => p.entries.find((e) => e.path.endsWith('changelog.gz'))!.content as { bytes: Uint8Array };
    expect(gunzipSync(changelog(a).bytes).toString()).toContain(' -- deb-ota maintainers <deb-ota@example.invalid>  Tue, 14 Nov 2023 22:13:20 +0000');
    expect(Buffer.from(changelog(agentDebPlan(INPUT)).bytes).equals(Buffer.from(changelog(a).bytes))).toBe(true);
    expect(agentDebPlan({ ...INPUT, epochSeconds: INPUT.epochSeconds + 1 })).not.toEqual(a);
  });

  it('md5sums lines are sorted by path, two spaces between sum and path', () => {
    expect(md5sumsText([{ path: 'usr/b', md5: 'bb' }, { path: 'etc/a', md5: 'aa' }])).toBe('aa  etc/a\nbb  usr/b\n');
  });
});

describe('the unit', () => {
  const unit = agentUnit({ nodeOptions: '--jitless --v8-pool-size=0' });
  const line = (key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

  it('runs the daemon, restarts it on failure, after the network, wanted by multi-user.target', () => {
    expect(line('ExecStart')).toEqual(['/usr/bin/ota-agent daemon']);
    expect(line('Restart')).toEqual(['on-failure']);
    expect(line('Wants')).toEqual(['network-online.target']);
    expect(line('After')[0]).toContain('network-online.target');
    expect(line('WantedBy')).toEqual(['multi-user.target']);
    expect(line('ConditionKernelCommandLine')).toEqual(['ostree']);
    expect(line('StateDirectory')).toEqual(['ota']);
    expect(line('RuntimeDirectory')).toEqual(['ota-agent']);
    expect(line('RuntimeDirectoryMode')).toEqual(['0700']);
  });

  it('gives the relay its Node flags through NODE_OPTIONS, and none when there are none', () => {
    expect(line('Environment')).toEqual(['"NODE_OPTIONS=--jitless --v8-pool-size=0"']);
    expect(agentUnit({ nodeOptions: null })).not.toContain('NODE_OPTIONS');
  });

  it("or as --node-options= before daemon, one quoted word, and then no NODE_OPTIONS", () => {
    const withArgs = agentUnit({ nodeOptions: null, relayArgs: ['--node-options=--jitless --v8-pool-size=0'] });
    const exec = withArgs.split('\n').filter((l) => l.startsWith('ExecStart='));
    expect(exec).toEqual(['ExecStart=/usr/bin/ota-agent "--node-options=--jitless --v8-pool-size=0" daemon']);
    expect(withArgs).not.toContain('NODE_OPTIONS');
    expect(() => agentUnit({ nodeOptions: null, relayArgs: ['--node-options=--a "b"'] })).toThrow(/this is a bug/);
  });

  it('hardens without taking what the agent needs: no read-only system, no device or namespace limits', () => {
    expect(line('NoNewPrivileges')).toEqual(['yes']);
    expect(line('PrivateTmp')).toEqual(['yes']);
    // RestrictSUIDSGID would refuse the setuid files a pull writes into the repository (su, mount, sudo).
    for (const key of ['ProtectSystem', 'ReadOnlyPaths', 'PrivateDevices', 'DevicePolicy', 'RestrictNamespaces', 'CapabilityBoundingSet', 'ProtectClock', 'ProtectKernelModules', 'RestrictSUIDSGID']) {
      expect(line(key), key).toEqual([]);
    }
  });
});

describe("the relay flags the unit gives Node 20's executable as NODE_OPTIONS", () => {
  it('are the relay flags NODE_OPTIONS accepts, each one this Node accepts there', () => {
    const { args, nodeOptions } = seaRelayLaunch('20.11.0');
    expect(args).toEqual([]);
    const flags = nodeOptions!.split(' ');
    expect(flags.length).toBeGreaterThan(0);
    for (const f of flags) {
      expect(relayNodeFlags('20.11.0')).toContain(f);
      if (process.versions.node.startsWith('20.')) expect(process.allowedNodeEnvironmentFlags.has(f.split('=')[0]!), f).toBe(true);
    }
  });
});
