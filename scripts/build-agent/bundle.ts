import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { OtaError } from '../../common/errors.js';
import type { AgentBuild } from '../../common/build-info.js';
import type { TargetPlan } from './plan.js';

const REPO = join(import.meta.dirname, '../..');
export const ENTRY = join(REPO, 'device-agent/sea/entry.ts');
const EMBEDDED_KOFFI = join(REPO, 'node-ostree/ffi/embedded-koffi.ts');
/** The name of koffi's module among the executable's assets. */
export const KOFFI_ASSET = 'koffi.node';

/**
 * The agent as one CommonJS script for one target (docs/agent.md, "Shipping the agent"). esbuild
 * keeps dynamically imported modules lazy (each in its own init function), so the relay's path
 * runs none of the CLI's modules. Three things differ from dist/:
 * - `OTA_AGENT_BUILD` (common/build-info.ts) carries the version and says "single executable";
 * - `import.meta.url` and `import.meta.dirname`, which a CommonJS script lacks, become the
 *   script's own (none of the agent's paths relies on them inside the executable; any new use
 *   still works instead of silently being empty);
 * - koffi's per-platform package, which koffi requires to find its native module, becomes a
 *   loader of the module embedded in the executable (node-ostree/ffi/embedded-koffi.ts).
 * Any warning fails the build: each one so far was a module the executable would miss at run time.
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
  script: Uint8Array;
  /** sha256 of the koffi module the bundle expects. */
  koffiSha256: string;
}

export async function bundleAgent(target: TargetPlan, input: BundleInput): Promise<Bundle> {
  const koffiSha256 = createHash('sha256').update(await readFile(input.koffiNode)).digest('hex');
  const build_: AgentBuild = { version: input.version, sea: true };
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${target.node.version.split('.')[0]}`,
    minifyWhitespace: true,
    minifySyntax: true,
    write: false,
    logLevel: 'silent',
    define: { OTA_AGENT_BUILD: JSON.stringify(build_), 'import.meta.url': '__ota_import_meta_url', 'import.meta.dirname': '__dirname' },
    banner: { js: 'var __ota_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    loader: { '.node': 'binary' },
    plugins: [embeddedKoffi(target, input.koffiNode, koffiSha256)],
  });
  if (result.warnings.length > 0) {
    const text = result.warnings.map((w) => `${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`).join('; ');
    throw new OtaError('ERR_OTA_BUILD', `build:agent: bundling ${target.arch}: ${text}`, { hint: 'each esbuild warning is something the executable would miss at run time: fix its cause' });
  }
  return { script: result.outputFiles[0]!.contents, koffiSha256 };
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
