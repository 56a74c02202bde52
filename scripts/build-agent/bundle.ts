import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { OtaError } from '../../common/errors.js';
import type { AgentBuild } from '../../common/build-info.js';
import { sha256Hex } from '../../device-agent/sea/code-cache.js';
import type { TargetPlan } from './plan.js';

const REPO = join(import.meta.dirname, '../..');
export const ENTRY = join(REPO, 'device-agent/sea/entry.ts');
const CLI_ENTRY = join(REPO, 'device-agent/cli/process.ts');
const EMBEDDED_KOFFI = join(REPO, 'node-ostree/ffi/embedded-koffi.ts');
const CODE_CACHE = join(REPO, 'device-agent/sea/code-cache.ts');
/** The names of koffi's module and of the CLI's script among the executable's assets. */
export const KOFFI_ASSET = 'koffi.node';
export const CLI_ASSET = 'cli.cjs';

/**
 * The agent as one CommonJS script for one target (docs/agent.md, "Shipping the agent"). esbuild
 * keeps dynamically imported modules lazy (each in its own init function), so the relay's path
 * runs none of the CLI's modules. Three things differ from dist/:
 * - `OTA_AGENT_BUILD` (common/build-info.ts) carries the version and says "single executable";
 * - `import.meta.url` and `import.meta.dirname`, which a CommonJS script lacks, become a fixed
 *   `file:///ota-agent/agent.cjs` and the script's folder: nothing inside the executable reads
 *   files beside itself, and a package loaded with createRequire() instead of a require esbuild
 *   can see fails wherever the executable runs, not only away from a checkout;
 * - koffi's per-platform package, which koffi requires to find its native module, becomes a
 *   loader of the module embedded in the executable (node-ostree/ffi/embedded-koffi.ts).
 * Where Node has assets, the CLI is a second script, an asset the entry compiles only when the
 * command is not the relay's (device-agent/sea/cli-chunk.ts): the relay's script then holds the
 * relay alone, 8 MB less of it resident (V8 keeps and pre-parses every function of the script it
 * runs). Any warning fails the build: each one so far was a module the executable would miss at
 * run time.
 *
 * @example
 * const { script } = await bundleAgent(target, { version: '0.1.0', koffiNode: '/cache/koffi.node' });
 */
export interface BundleInput {
  version: string;
  /** The target's koffi.node, extracted from its pinned package. */
  koffiNode: string;
}

export interface Bundle {
  /** The main script: everything, or the entry and the relay when the CLI is an asset. */
  script: Uint8Array;
  /** The CLI's own script, an asset of the executable; null when it is in the main script. */
  cli: Uint8Array | null;
  /** What went into the main script (esbuild's inputs: repository paths, node_modules/... for packages). */
  mainInputs: string[];
  /** sha256 of the koffi module the bundle expects. */
  koffiSha256: string;
}

export async function bundleAgent(target: TargetPlan, input: BundleInput): Promise<Bundle> {
  const koffiSha256 = sha256Hex(await readFile(input.koffiNode));
  const split = target.koffiEmbed === 'asset';
  const plugins = [leanMqtt(), embeddedKoffi(target, input.koffiNode, koffiSha256)];
  // The CLI first: the entry's loader carries its hash (the code cache's key) so a start need not compute it.
  const cli = split ? (await bundleOne(target, { entry: CLI_ENTRY, version: input.version, plugins })).script : null;
  const main = await bundleOne(target, { entry: ENTRY, version: input.version, plugins: [...plugins, ...(cli === null ? [] : [cliFromAsset(sha256Hex(cli))])] });
  return { script: main.script, cli, mainInputs: main.inputs, koffiSha256 };
}

async function bundleOne(target: TargetPlan, o: { entry: string; version: string; plugins: Plugin[] }): Promise<{ script: Uint8Array; inputs: string[] }> {
  const build_: AgentBuild = { version: o.version, sea: true };
  const result = await build({
    entryPoints: [o.entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${target.node.version.split('.')[0]}`,
    minifyWhitespace: true,
    minifySyntax: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    define: { OTA_AGENT_BUILD: JSON.stringify(build_), 'import.meta.url': '__ota_import_meta_url', 'import.meta.dirname': '__dirname' },
    // Not the executable's path: a createRequire() from it would find the node_modules of a checkout the executable sits
    // in, and hide a module the bundle missed until the executable runs elsewhere.
    banner: { js: 'var __ota_import_meta_url = "file:///ota-agent/agent.cjs";' },
    loader: { '.node': 'binary' },
    plugins: o.plugins,
  });
  if (result.warnings.length > 0) {
    const text = result.warnings.map((w) => `${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`).join('; ');
    throw new OtaError('ERR_OTA_BUILD', `build:agent: bundling ${target.arch}: ${text}`, { hint: 'each esbuild warning is something the executable would miss at run time: fix its cause' });
  }
  return { script: result.outputFiles[0]!.contents, inputs: Object.keys(result.metafile.inputs) };
}

/**
 * device-agent/sea/cli-chunk.ts -> the CLI compiled from the executable's asset, with the builtins-only require a single
 * executable has, and V8's code cache of earlier runs (device-agent/sea/code-cache.ts).
 */
function cliFromAsset(sourceSha256: string): Plugin {
  // Imported when called: the relay's start runs none of it.
  const loader = `import { getAsset } from 'node:sea';
export async function loadCli() {
  const { runWithCodeCache } = await import(${JSON.stringify(CODE_CACHE)});
  const m = { exports: {} };
  const params = ['exports', 'require', 'module', '__filename', '__dirname'];
  runWithCodeCache({ source: getAsset(${JSON.stringify(CLI_ASSET)}, 'utf8'), filename: ${JSON.stringify(CLI_ASSET)}, sourceSha256: ${JSON.stringify(sourceSha256)}, params }).value(m.exports, require, m, __filename, __dirname);
  return m.exports;
}
`;
  return {
    name: 'ota-cli-from-asset',
    setup(b) {
      b.onLoad({ filter: /device-agent\/sea\/cli-chunk\.ts$/ }, () => ({ contents: loader, loader: 'js', resolveDir: REPO }));
    },
  };
}

/**
 * mqtt.js as the agent uses it, without what a browser needs
 * (docs/agent.md, "Footprint of the relay"): every module the relay runs stays in its heap for as long as it runs.
 * - `mqtt` -> its client alone: the agent takes only MqttClient from it (common/mqtt/connect.ts
 *   makes the stream), and its index loads the WebSocket, SOCKS and browser transports too. An
 *   import of anything else from `mqtt` fails the build (esbuild: no matching export).
 * - `readable-stream` -> Node's own streams: the package is a copy of them for browsers and older
 *   Nodes, and says so with its own switch (READABLE_STREAM=disable gives Node's), set here at
 *   build time.
 * - `worker-timers` -> nothing: mqtt.js's timers in a browser window; on Node it takes Node's
 *   (mqtt/build/lib/get-timer.js, "auto").
 */
const LEAN_MQTT: Record<string, string> = {
  mqtt: "export { default as MqttClient } from 'mqtt/lib/client';\n",
  'readable-stream': "module.exports = require('node:stream');\n",
  'worker-timers': "const no = () => { throw new Error('worker-timers is for browsers: mqtt.js on Node takes its native timers'); };\nmodule.exports = { setInterval: no, clearInterval: no, setTimeout: no, clearTimeout: no };\n",
};

function leanMqtt(): Plugin {
  return {
    name: 'ota-lean-mqtt',
    setup(b) {
      b.onResolve({ filter: /^(mqtt|readable-stream|worker-timers)$/ }, (a) => ({ path: a.path, namespace: 'ota-lean-mqtt' }));
      b.onLoad({ filter: /.*/, namespace: 'ota-lean-mqtt' }, (a) => ({ contents: LEAN_MQTT[a.path]!, loader: 'js', resolveDir: REPO }));
    },
  };
}

/** `@koromix/koffi-*` -> a loader of the embedded module, from the executable's assets or from the bundle's bytes. */
function embeddedKoffi(target: TargetPlan, koffiNode: string, sha256: string): Plugin {
  const bytes = target.koffiEmbed === 'asset' ? `() => new Uint8Array(require('node:sea').getRawAsset(${JSON.stringify(KOFFI_ASSET)}))` : `() => require(${JSON.stringify(koffiNode)})`;
  return {
    name: 'ota-embedded-koffi',
    setup(b) {
      b.onResolve({ filter: /^@koromix\/koffi-/ }, () => ({ path: 'koffi-native', namespace: 'ota-embedded-koffi' }));
      b.onLoad({ filter: /.*/, namespace: 'ota-embedded-koffi' }, () => ({
        contents: `const { loadEmbeddedKoffi } = require(${JSON.stringify(EMBEDDED_KOFFI)});\nmodule.exports = loadEmbeddedKoffi({ bytes: ${bytes}, sha256: ${JSON.stringify(sha256)} });\n`,
        loader: 'js',
        resolveDir: REPO,
      }));
    },
  };
}
