/**
 * `npm run build:agent-deb -- --arch amd64|arm64|armhf [--arch ...] [--binary PATH] [--out DIR]`: the agent's
 * .deb per architecture (docs/agent.md, "Packaging"), from the executable `npm run build:agent` left in
 * out/agent/<arch>/ota-agent, written to out/agent/ota-agent_<version>_<arch>.deb. Prints one line per package.
 * SOURCE_DATE_EPOCH, when set, dates the package; otherwise the last commit's time does, so the same checkout
 * gives the same bytes.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatError, OtaError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { packageVersion } from '../common/package-version.js';
import { seaRelayLaunch } from '../device-agent/daemon/node-flags.js';
import { readPins } from './build-agent/build.js';
import { buildAgentDeb } from './agent-deb/build.js';
import { AGENT_ARCHES } from './agent-deb/plan.js';
import type { AgentArch } from './build-agent/plan.js';

const REPO = join(import.meta.dirname, '..');

async function main(argv: string[]): Promise<number> {
  const values = options(argv);
  const arches = values.arch ?? [];
  if (arches.length === 0) throw new OtaError('ERR_OTA_USAGE', 'build:agent-deb: no --arch given', { hint: `--arch ${AGENT_ARCHES.join('|')}, once per package` });
  if (values.binary !== undefined && arches.length > 1) throw new OtaError('ERR_OTA_USAGE', 'build:agent-deb: --binary goes with one --arch', { hint: 'build one architecture per --binary' });
  const outDir = values.out ?? join(REPO, 'out/agent');
  const version = values.version ?? (await packageVersion()).replace(/-/g, '~');
  const epochSeconds = await sourceDateEpoch();
  const pins = await readPins();
  for (const arch of arches) {
    // The relay's flags as the executable of this architecture takes them (build:agent's pinned Node).
    const relay = seaRelayLaunch(pins.node[arch as AgentArch]?.version ?? '0');
    const deb = await buildAgentDeb({
      arch,
      binary: values.binary ?? join(REPO, 'out/agent', arch, 'ota-agent'),
      outDir,
      version,
      epochSeconds,
      nodeOptions: relay.nodeOptions,
      relayArgs: relay.args,
      maintainer: values.maintainer,
    });
    process.stdout.write(`build:agent-deb: ${deb.path}: ${(deb.sizeBytes / 1e6).toFixed(1)} MB, sha256 ${deb.sha256}\n`);
  }
  return 0;
}

function options(argv: string[]): { arch?: string[]; binary?: string; out?: string; version?: string; maintainer?: string } {
  try {
    return parseArgs({
      args: argv,
      options: { arch: { type: 'string', multiple: true }, binary: { type: 'string' }, out: { type: 'string' }, version: { type: 'string' }, maintainer: { type: 'string' } },
      strict: true,
    }).values;
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `build:agent-deb: ${(e as Error).message}`, { hint: 'usage: npm run build:agent-deb -- --arch amd64|arm64|armhf [--binary PATH] [--out DIR] [--version V] [--maintainer "NAME <MAIL>"]' });
  }
}

async function sourceDateEpoch(): Promise<number> {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined) {
    if (!/^\d+$/.test(env)) throw new OtaError('ERR_OTA_USAGE', `SOURCE_DATE_EPOCH=${env} is not a number of seconds`, { hint: 'unset it, or give seconds since 1970' });
    return Number(env);
  }
  const { stdout } = await run('the last commit\'s time', ['git', '-C', REPO, 'log', '-1', '--format=%ct']);
  return Number(stdout.trim());
}

if (process.argv[1] === import.meta.filename) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${formatError(e)}\n`);
      process.exit(e instanceof OtaError ? e.exitCode : 1);
    },
  );
}
