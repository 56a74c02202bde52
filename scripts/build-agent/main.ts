import { parseArgs } from 'node:util';
import { OtaError } from '../../common/errors.js';
import { buildAgents } from './build.js';
import type { AgentArch } from './plan.js';

/**
 * `npm run build:agent [-- --arch amd64,arm64] [--out DIR] [--cache-dir DIR]` (docs/agent.md,
 * "Shipping the agent"): one `ota-agent` executable per Debian architecture in out/agent/<arch>/,
 * each with its manifest `ota-agent.json`. Node and koffi's native modules come from npm packages
 * pinned in pins.json, cached in $OTA_AGENT_BUILD_CACHE or ~/.cache/deb-ota/node. Progress goes to
 * stderr, one summary line to stdout.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { arch: { type: 'string' }, out: { type: 'string' }, 'cache-dir': { type: 'string' } }, strict: true });
  const started = Date.now();
  const built = await buildAgents(
    { arches: values.arch?.split(',') as AgentArch[] | undefined, outDir: values.out, cacheDir: values['cache-dir'] },
    (line) => process.stderr.write(`build:agent: ${line}\n`),
  );
  const sizes = built.map((m) => `${m.arch} ${(m.sizeBytes / 1e6).toFixed(1)} MB (Node ${m.node.version})`).join(', ');
  process.stdout.write(`build:agent: ${sizes}; ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    if (e instanceof OtaError) process.stderr.write(`error: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}\n`);
    else process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = e instanceof OtaError ? e.exitCode : 1;
  },
);
