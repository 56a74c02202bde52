import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../../device-agent/config/load.js';
import { BUILT_IN_DEFAULTS, MQTT_DEFAULTS } from '../../../device-agent/config/schema.js';
import { inMaintenanceWindow } from '../../../device-agent/config/window.js';
import { otaRejection } from '../../helpers/errors.js';

// The layers are real files under a temp root standing in for `/`.

let root: string;

async function put(rel: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), text);
}

const IMAGE = `# what the image ships
board: qemu-arm64
arch: arm64
remote: https://updates.example.com/fleet
bootloader:
  kind: uboot
  envPath: /boot/efi/ota.env
health:
  requiredUnits: [sshd.service]
`;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'agent-config-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadAgentConfig', () => {
  it('merges defaults < /usr/lib < /etc < agent.d in name order', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-0001\ngroup: lab\nhealth:\n  deadlineSeconds: 120\n');
    await put('etc/ota/agent.d/20-window.yaml', 'policy:\n  maintenanceWindow: { start: "22:00", end: "04:00" }\n');
    await put('etc/ota/agent.d/10-reboot.yaml', 'policy:\n  reboot: manual\ngroup: canary\n');
    await put('etc/ota/agent.d/README', 'not yaml: ignored [');
    const { config, files } = await loadAgentConfig({ root });
    expect(files.map((f) => f.slice(root.length))).toEqual(['/usr/lib/ota/agent.yaml', '/etc/ota/agent.yaml', '/etc/ota/agent.d/10-reboot.yaml', '/etc/ota/agent.d/20-window.yaml']);
    expect(config.deviceId).toBe('gw-0001');
    expect(config.group).toBe('canary');
    expect(config.board).toBe('qemu-arm64');
    expect(config.bootloader).toEqual({ kind: 'uboot', envPath: '/boot/efi/ota.env' });
    // health merges key by key across layers; untouched keys keep their defaults
    expect(config.health.requiredUnits).toEqual(['sshd.service']);
    expect(config.health.deadlineSeconds).toBe(120);
    expect(config.health.checkTimeoutSeconds).toBe(BUILT_IN_DEFAULTS.health!.checkTimeoutSeconds);
    expect(config.policy).toEqual({ reboot: 'manual', maintenanceWindow: { start: '22:00', end: '04:00' }, downloadOnly: false });
    expect(config.sysroot).toBe('/');
  });

  it('replaces the bootloader block whole: a later layer may switch to GRUB', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put(
      'etc/ota/agent.yaml',
      `deviceId: pc-1
bootloader:
  kind: grub
  envPath: /boot/efi/EFI/ota/grubenv
  configPath: /boot/efi/EFI/ota/grub.cfg
  envLocation: { label: ESP, path: /EFI/ota/grubenv }
  bootLocation: { path: /boot }
`,
    );
    const { config } = await loadAgentConfig({ root });
    expect(config.bootloader.kind).toBe('grub');
    expect(config.bootloader).not.toHaveProperty('bootlimit');
  });

  it('gives the daemon keys their defaults: /proc/cmdline, systemctl reboot, an hourly poll', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\n');
    const { config } = await loadAgentConfig({ root });
    expect(config.kernelCommandLine).toBe('/proc/cmdline');
    expect(config.rebootCommand).toEqual(['systemctl', 'reboot']);
    expect(config.pollIntervalSeconds).toBe(3600);
  });

  it('takes the daemon keys from a layer, the reboot command replaced whole', async () => {
    await put('usr/lib/ota/agent.yaml', `${IMAGE}rebootCommand: [/sbin/reboot, -f]\n`);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nkernelCommandLine: /run/ota/cmdline\nrebootCommand: [/usr/local/bin/stand-in-reboot]\npollIntervalSeconds: 0\n');
    const { config } = await loadAgentConfig({ root });
    expect(config.kernelCommandLine).toBe('/run/ota/cmdline');
    expect(config.rebootCommand).toEqual(['/usr/local/bin/stand-in-reboot']);
    expect(config.pollIntervalSeconds).toBe(0);
  });

  it('refuses an empty reboot command, a negative poll interval and a relative command line path', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nrebootCommand: []\n');
    const empty = await otaRejection(loadAgentConfig({ root }));
    expect(empty.message).toContain(`"rebootCommand"`);
    expect(empty.message).toContain(`${join(root, 'etc/ota/agent.yaml')}:2`);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\npollIntervalSeconds: -5\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain(`"pollIntervalSeconds"`);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nkernelCommandLine: proc/cmdline\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain(`"kernelCommandLine": an absolute path`);
  });

  it('names the file and line of an unknown key, with a suggestion', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\n\npolicy:\n  reboot: auto\n  rebot: manual\n');
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.code).toBe('ERR_OTA_AGENT_CONFIG');
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`unknown key "rebot" at policy (${join(root, 'etc/ota/agent.yaml')}:5); did you mean "reboot"?`);
  });

  it('has no broker by default: mqtt is null, HTTP polling only', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\n');
    expect((await loadAgentConfig({ root })).config.mqtt).toBeNull();
  });

  it('fills the mqtt block from its defaults and merges it key by key across layers', async () => {
    await put('usr/lib/ota/agent.yaml', `${IMAGE}mqtt:\n  url: mqtts://broker.example:8883\n  caFile: /usr/lib/ota/ca.pem\n`);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nmqtt:\n  username: gw-1\n  passwordFile: /etc/ota/mqtt.password\n  telemetryIntervalSeconds: 0.05\n');
    const { config } = await loadAgentConfig({ root });
    expect(config.mqtt).toEqual({
      ...MQTT_DEFAULTS,
      url: 'mqtts://broker.example:8883',
      caFile: '/usr/lib/ota/ca.pem',
      username: 'gw-1',
      passwordFile: '/etc/ota/mqtt.password',
      telemetryIntervalSeconds: 0.05,
    });
    expect(config.mqtt!.sessionExpirySeconds).toBe(604800);
  });

  it('lets a later layer remove the broker with mqtt: null', async () => {
    await put('usr/lib/ota/agent.yaml', `${IMAGE}mqtt:\n  url: mqtt://broker.example\n`);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nmqtt: null\n');
    expect((await loadAgentConfig({ root })).config.mqtt).toBeNull();
  });

  it('refuses an mqtt block without its url, with a bad scheme, or with half a client certificate', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nmqtt:\n  username: gw-1\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain('missing required key "mqtt.url"');
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nmqtt:\n  url: https://broker.example\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toMatch(/^"mqtt\.url": mqtt:\/\/HOST/);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nmqtt:\n  url: mqtts://broker.example\n  certFile: /etc/ota/client.pem\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain('"mqtt.keyFile": certFile and keyFile go together');
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nmqtt:\n  url: mqtts://broker.example\n  telemetryIntervalSeconds: 0.01\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain('"mqtt.telemetryIntervalSeconds": 0 (off) or at least 0.05');
  });

  it('names an unknown key inside the mqtt block with its file and line', async () => {
    await put('etc/ota/agent.d/50-broker.yaml', 'mqtt:\n  url: mqtts://broker\n  pasword: x\n');
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.message).toContain(`unknown key "pasword" at mqtt (${join(root, 'etc/ota/agent.d/50-broker.yaml')}:3)`);
  });

  it('names a bad value with its file and line', async () => {
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nsysroot: relative/path\n');
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.message).toMatch(new RegExp(`^"sysroot": an absolute path without "\\.\\." \\(${join(root, 'etc/ota/agent.yaml')}:2\\)$`));
  });

  it('lists every missing required key and the files it read', async () => {
    await put('etc/ota/agent.yaml', '# nothing set yet\n');
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.message).toBe(`agent configuration: missing required key "deviceId" (read ${join(root, 'etc/ota/agent.yaml')})`);
    expect(e.details).toEqual(['missing required key "remote"', 'missing required key "board"', 'missing required key "arch"', 'missing required key "bootloader"']);
  });

  it('says when no file was found at all', async () => {
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.message).toContain('(no configuration file was found)');
  });

  it('refuses a file it cannot read instead of skipping it', async () => {
    if (process.getuid?.() === 0) return; // root reads any file
    await put('usr/lib/ota/agent.yaml', IMAGE);
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\n');
    await chmod(join(root, 'etc/ota/agent.yaml'), 0o000);
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.message).toContain(`cannot read ${join(root, 'etc/ota/agent.yaml')}`);
  });

  it('refuses invalid YAML with its line', async () => {
    await put('etc/ota/agent.yaml', 'deviceId: gw-1\nboard: [unclosed\n');
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.message).toMatch(new RegExp(`^${join(root, 'etc/ota/agent.yaml')}:\\d+ is not valid YAML`));
  });
});

describe('inMaintenanceWindow', () => {
  const at = (hhmm: string) => new Date(`2026-03-01T${hhmm}:00Z`);
  it('is always open without a window, and all day when start equals end', () => {
    expect(inMaintenanceWindow(null, at('12:00'))).toBe(true);
    expect(inMaintenanceWindow({ start: '03:00', end: '03:00' }, at('12:00'))).toBe(true);
  });
  it('includes the start and excludes the end', () => {
    const w = { start: '01:00', end: '05:00' };
    expect([at('00:59'), at('01:00'), at('04:59'), at('05:00')].map((d) => inMaintenanceWindow(w, d))).toEqual([false, true, true, false]);
  });
  it('crosses midnight when the end is before the start', () => {
    const w = { start: '22:00', end: '04:00' };
    expect([at('21:59'), at('22:00'), at('23:59'), at('00:00'), at('03:59'), at('04:00'), at('12:00')].map((d) => inMaintenanceWindow(w, d))).toEqual([false, true, true, true, true, false, false]);
  });
});
