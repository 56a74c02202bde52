import { isRelayArgv } from '../daemon/route.js';
import { loadCli } from './cli-chunk.js';

/**
 * The one-file agent's entry (docs/agent.md, "Shipping the agent"): what bin/ota-agent.js does
 * for dist/, bundled by scripts/build-agent/ into one CommonJS script. The relay is a dynamic
 * import, which esbuild keeps lazy; the CLI comes through cli-chunk.ts, which the build makes an
 * asset of its own where Node has assets: the relay never runs, nor even parses, the CLI's modules
 * (zod, jose, commander, koffi).
 */
async function start(): Promise<void> {
  const args = process.argv.slice(2);
  if (isRelayArgv(args)) {
    const { runRelay } = await import('../daemon/main.js');
    // Exit once the relay has stopped, as bin/ota-agent.js does (a dropped mqtt.js client's timer must not hold the process).
    process.exit(await runRelay(args));
  } else {
    const { runAsProcess } = await loadCli();
    await runAsProcess();
  }
}

void start();
