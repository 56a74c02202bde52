import { OtaError } from '../../common/errors.js';
import { packageVersion } from '../../common/package-version.js';
import type { LogLevel } from './publisher.js';
import { Relay } from './relay.js';
import { readPassword, relayConfigFrom, type RelayConfig } from './relay-config.js';
import { startSelf } from './self.js';

/**
 * `ota-agent daemon` as the lean relay (docs/agent.md, "The daemon and its workers"), reached
 * from bin/ota-agent.js without loading the CLI: reads its configuration through `ota-agent
 * config --json` (a worker: the relay loads no schema library), starts the relay, and on SIGTERM
 * or SIGINT stops it cleanly (the running worker first, then presence offline) and exits 0.
 *
 * @example
 * await runRelay(process.argv.slice(2)); // ['daemon', '--root', '/']
 */
export async function runRelay(args: readonly string[]): Promise<number> {
  try {
    const root = rootOf(args);
    const config = relayConfigFrom(await configJson(root));
    const relay = new Relay({ config, root, agentVersion: await packageVersion(), password: await readPassword(config.mqtt?.passwordFile ?? null), log });
    const stopped = new Promise<void>((resolve) => {
      const stop = () => void relay.stop().then(resolve);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await relay.start();
    log(6, `ota-agent daemon: device ${config.deviceId}, group ${config.group}, ${describeBroker(config)}`);
    await stopped;
    log(6, 'ota-agent daemon: stopped');
    return 0;
  } catch (e) {
    if (!(e instanceof OtaError)) {
      log(3, `ota-agent daemon: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      return 1;
    }
    log(3, `ota-agent daemon: ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
    return e.exitCode;
  }
}

function log(level: LogLevel, text: string): void {
  process.stderr.write(`<${level}>${text.replace(/\s*\n\s*/g, ' ')}\n`);
}

function describeBroker(c: RelayConfig): string {
  return c.mqtt === null ? 'no broker (HTTP polling only)' : `broker ${new URL(c.mqtt.url).host}`;
}

/** `daemon [--root DIR]`, the options in any order; anything else is a usage error. */
export function rootOf(args: readonly string[]): string {
  let root = '/';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'daemon') continue;
    if (a === '--root' && args[i + 1] !== undefined) root = args[++i]!;
    else if (a.startsWith('--root=')) root = a.slice('--root='.length);
    else throw new OtaError('ERR_OTA_USAGE', `ota-agent daemon: unknown argument ${JSON.stringify(a)}`, { hint: 'usage: ota-agent daemon [--root DIR] [--once]' });
  }
  return root;
}

/** `ota-agent config --json` run as a worker: the merged configuration, checked by the CLI's schemas. */
async function configJson(root: string): Promise<unknown> {
  const lines: string[] = [];
  const child = startSelf(['config', '--json', '--root', root], { input: '', onLine: (l) => lines.push(l), maxLineBytes: 1024 * 1024, onLongLine: () => {} });
  const { code } = await child.exited;
  if (code !== 0) {
    // The worker printed why on stderr (the journal); its exit code says whether it was the configuration.
    throw new OtaError(code === 2 ? 'ERR_OTA_AGENT_CONFIG' : 'ERR_OTA_EXEC', `ota-agent config --json exited with ${code}: the daemon has no configuration`, {
      hint: 'see the line above; run `ota-agent config` to check the files',
      exitCode: code === 2 ? 2 : 1,
    });
  }
  try {
    return JSON.parse(lines.join('\n'));
  } catch {
    throw new OtaError('ERR_OTA_EXEC', 'ota-agent config --json printed something that is not JSON', { hint: 'this is a bug; run `ota-agent config --json` to see it' });
  }
}
