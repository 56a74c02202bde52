import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, start } from '../../../common/exec.js';
import { packageVersion } from '../../../common/package-version.js';
import { statusSchema } from '../../../contract/documents/status.js';
import { seaRelayLaunch } from '../../../device-agent/daemon/node-flags.js';
import { libostreeVersion } from '../../../node-ostree/version.js';
import { buildAgents, defaultCacheDir, readPins } from '../../../scripts/build-agent/build.js';
import { emulatorRoot } from '../../../scripts/build-agent/emulator-root.js';
import type { AgentManifest } from '../../../scripts/build-agent/execute.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { fleet, makeDevice, removeDevices, type Fleet } from '../../device-agent/agent/device.js';
import { makeMqttDevice } from '../../device-agent/daemon/harness.js';
import { observe } from '../../device-agent/daemon/observer.js';
import { online } from '../../device-agent/daemon/scenario.js';

// The one-file agent (docs/agent.md, "Shipping the agent"), built by the real build:agent from the
// pinned npm packages (cached in ~/.cache/deb-ota/node: the first run fetches about 120 MB), and
// run as a device runs it: `--version`, `status --json` on a harness device, and the relay on a
// real Mosquitto with the executable itself as its workers. The arm64 build runs under
// qemu-aarch64-static with Debian's arm64 C runtime; libostree for arm64 is not on the host, which
// its `--version` must say instead of failing. So does armhf's, built on its own path (Node 20.11).

let tmp: string;
let out: string;
let f: Fleet;
let mosquitto: Mosquitto;
let built: Record<string, AgentManifest>;
/** The folder the executables write koffi's module to: private, as the loader demands. */
let runtime: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-exe-'));
  out = join(tmp, 'out');
  runtime = join(tmp, 'runtime');
  await mkdir(runtime, { mode: 0o700 });
  const manifests = await buildAgents({ arches: ['amd64', 'arm64'], outDir: out }, () => {});
  built = Object.fromEntries(manifests.map((m) => [m.arch, m]));
  f = await fleet(join(tmp, 'fleet'), ['1.0']);
  mosquitto = await startMosquitto();
}, 600_000);

afterAll(async () => {
  await mosquitto?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

const exe = (arch: string) => join(out, arch, 'ota-agent');
const env = () => ({ ...process.env, OTA_AGENT_RUNTIME_DIR: runtime });

describe('the amd64 executable', () => {
  it('is what its manifest says, and --version names the agent, its Node and the libostree it loads', async () => {
    const m = built.amd64!;
    const bytes = await readFile(exe('amd64'));
    expect(m.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(m.sizeBytes).toBe(bytes.length);
    const pins = await readPins();
    const json = JSON.parse((await run('ota-agent --version --json', [exe('amd64'), '--version', '--json'], { env: env() })).stdout) as { agent: string; node: string; libostree: { version: string | null } };
    expect(json).toEqual({ agent: await packageVersion(), node: pins.node.amd64.version, libostree: { version: libostreeVersion().version, note: null } });
    const text = (await run('ota-agent --version', [exe('amd64'), '--version'], { env: env() })).stdout;
    expect(text.split('\n').filter(Boolean)).toEqual([`ota-agent ${json.agent}`, `libostree ${json.libostree.version}`, `node ${json.node}`]);
    // koffi's module was written once, under its hash, into the private folder, and loaded from there.
    const native = await stat(join(runtime, `koffi-${m.koffi.sha256}.node`));
    expect(native.mode & 0o777).toBe(0o500);
    // The CLI's V8 code cache was written beside it as the first run exited, for the runs after it.
    expect((await readdir(runtime)).filter((n) => /^cli\.cjs-[0-9a-f]{32}\.v8cache$/.test(n))).toHaveLength(1);
  });

  it('status --json on a harness device reads the sysroot through the embedded koffi; upgrade --check asks the remote over HTTP', async () => {
    const d = await makeDevice(f, { dir: join(tmp, 'device-status') });
    const r = await run('ota-agent status --json', [exe('amd64'), '--root', d.root, 'status', '--json'], { env: env() });
    const status = statusSchema.parse(JSON.parse(r.stdout));
    expect(status.device).toBe('gw-0001');
    expect(status.phase).toBe('idle');
    expect(status.deployments.booted?.commit).toBe(f.releases['1.0']!.commit);
    // The signed release of the group, fetched with the bundled undici and verified with the bundled jose: up to date (77).
    const check = await run('ota-agent upgrade --check', [exe('amd64'), '--root', d.root, 'upgrade', '--check'], { env: env(), okCodes: [77] });
    expect(check.code).toBe(77);
  });

  it('runs the relay with its flags as --node-options= (Node refuses a bad one): online on Mosquitto, its workers (the executable) report, SIGTERM ends it', async () => {
    const d = await makeMqttDevice(f, { dir: join(tmp, 'device-relay'), broker: mosquitto.url });
    const obs = await observe(mosquitto.url, 'gw-0001');
    const launch = seaRelayLaunch((await readPins()).node.amd64.version);
    expect(launch.args).toHaveLength(1);
    const relay = start('ota-agent daemon', [exe('amd64'), ...launch.args, '--root', d.root, 'daemon'], { env: env() });
    let journal = '';
    relay.onStderr((t) => (journal += t));
    try {
      await online(obs);
      // The status comes from a `report` worker: the relay started the executable again, without its flags.
      const s = await obs.waitFor('status', (x) => x.phase === 'idle' && x.deployments.booted?.commit === f.releases['1.0']!.commit, 'idle on 1.0');
      expect(s.agentVersion).toBe(await packageVersion());
      relay.kill('SIGTERM');
      expect((await relay.exited).code, journal).toBe(0);
      await obs.waitFor('presence', (p) => !p.online, 'presence offline');
    } finally {
      relay.kill('SIGKILL');
      await obs.close();
    }
  });
});

describe('the arm executables', () => {
  it('under qemu-aarch64-static: --version names its Node, and says why libostree is missing instead of failing', async () => {
    const prefix = await emulatorRoot('arm64', defaultCacheDir());
    const r = await run('ota-agent --version --json (arm64)', ['qemu-aarch64-static', exe('arm64'), '--version', '--json'], { env: { ...env(), QEMU_LD_PREFIX: prefix } });
    const json = JSON.parse(r.stdout) as { agent: string; node: string; libostree: { version: string | null; note: string | null } };
    expect(json.agent).toBe(await packageVersion());
    expect(json.node).toBe((await readPins()).node.arm64.version);
    expect(json.libostree.version).toBeNull();
    // koffi's arm64 module loaded (it wrote itself under its hash); it is libostree that is missing.
    expect(json.libostree.note).toMatch(/^libostree-1\.so\.1 could not be loaded: .*cannot open shared object file/);
    await stat(join(runtime, `koffi-${built.arm64!.koffi.sha256}.node`));
  });

  it("armhf (Node 20.11: postject, koffi's module in the script) under qemu-arm-static: --version", async () => {
    const [m] = await buildAgents({ arches: ['armhf'], outDir: out }, () => {});
    expect(m!.koffi.embedded).toBe('bundle');
    const prefix = await emulatorRoot('armhf', defaultCacheDir());
    const r = await run('ota-agent --version --json (armhf)', ['qemu-arm-static', exe('armhf'), '--version', '--json'], { env: { ...env(), QEMU_LD_PREFIX: prefix } });
    const json = JSON.parse(r.stdout) as { agent: string; node: string; libostree: { version: string | null; note: string | null } };
    expect([json.agent, json.node, json.libostree.version]).toEqual([await packageVersion(), (await readPins()).node.armhf.version, null]);
    expect(json.libostree.note).toMatch(/^libostree-1\.so\.1 could not be loaded: .*cannot open shared object file/);
    await stat(join(runtime, `koffi-${m!.koffi.sha256}.node`));
  });
});
