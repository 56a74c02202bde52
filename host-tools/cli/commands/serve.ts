import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import type { OtaEvent } from '../../../common/events.js';
import { startDashboard, type Dashboard } from '../../dashboard/dashboard.js';
import { serve, type Serving } from '../../serve/serve.js';
import type { CliIo } from '../io.js';
import { addDashboardOptions, dashboardOptions, parsePort, type DashboardFlags } from './fleet-dashboard.js';

/**
 * `ota serve PUBLISHED`: HTTP for the published tree and an embedded MQTT broker, until SIGINT or
 * SIGTERM (docs/releases.md, "Serving"). The bound addresses are printed first: with `--json`
 * as one JSON line on stdout, which is how scripts and tests learn the ports port 0 chose.
 *
 * @example
 * // $ ota serve /srv/ota --http-port 0 --json
 * // {"published":"/srv/ota","http":{"address":"127.0.0.1","port":41234,...},"mqtt":{...}}
 */
interface ServeFlags extends DashboardFlags {
  httpPort: number;
  mqttPort: number;
  bind: string;
  mqtt: boolean;
  brokerAcl?: string;
  mqttsPort?: number;
  dashboard?: boolean;
  dashboardPort: number;
}

export function registerServe(program: Command, io: CliIo): void {
  const cmd = program
    .command('serve')
    .description('serve a published directory over HTTP (Range, ETag, cache headers) with an embedded MQTT broker, until SIGINT/SIGTERM')
    .argument('<published>', 'the directory `ota publish --to` wrote')
    .option('--http-port <port>', 'HTTP port (0 picks a free one)', parsePort('--http-port'), 8080)
    .option('--mqtt-port <port>', 'MQTT port of the embedded broker (0 picks a free one)', parsePort('--mqtt-port'), 1883)
    .option('--bind <address>', 'address to listen on (default loopback only; 0.0.0.0 for every interface)', '127.0.0.1')
    .option('--no-mqtt', 'serve HTTP only, without the embedded broker')
    .option('--broker-acl <dir>', 'take only the users of this `ota fleet acl` folder and enforce its topic rules (default: no authentication)')
    .option('--mqtts-port <port>', 'with --broker-acl: also MQTT over TLS on this port, clients identified by their certificate (0 picks a free one)', parsePort('--mqtts-port'))
    .option('--json', 'print the bound addresses as one JSON line on stdout (docs/cli-json.md)')
    .option('--dashboard', 'also serve the fleet dashboard, fed by the embedded broker (docs/dashboard.md)')
    .option('--dashboard-port <port>', 'the dashboard\'s port (0 picks a free one)', parsePort('--dashboard-port'), 8090);
  addDashboardOptions(cmd).action(async (dir: string, opts: ServeFlags) => {
      let requests = 0;
      const onEvent = (e: OtaEvent) => {
        if (e.phase === 'http') requests++;
        io.reporter.event(e);
      };
      // Listening for the signals before the addresses are printed: whoever reads them may signal at once.
      const stop = untilSignal();
      let signal: NodeJS.Signals;
      try {
        if (!opts.dashboard && [opts.passwordFile, opts.cert, opts.key, opts.origin, opts.signingKey, opts.rolloutState].some((v) => v !== undefined)) {
          throw new OtaError('ERR_OTA_USAGE', '--password-file, --cert, --key, --origin, --signing-key and --rollout-state are options of the dashboard', { hint: 'add --dashboard' });
        }
        const dashboard = opts.dashboard ? dashboardOptions(opts) : undefined;
        const s = await serve({ dir, httpPort: opts.httpPort, mqttPort: opts.mqttPort, bind: opts.bind, mqtt: opts.mqtt, brokerAcl: opts.brokerAcl, mqttsPort: opts.mqttsPort, onEvent });
        let d: Dashboard | undefined;
        try {
          d = dashboard === undefined ? undefined : await startServeDashboard(s, opts, dashboard);
        } catch (e) {
          await s.close();
          throw e;
        }
        printAddresses(io, s, { json: opts.json === true, dashboard: d });
        signal = await stop.signal;
        await d?.close();
        await s.close();
      } finally {
        stop.dispose();
      }
      const summary = `ota serve: stopped by ${signal} after ${requests} HTTP request${requests === 1 ? '' : 's'}`;
      // With --json, stdout holds the one document already printed; the summary goes with the progress to stderr.
      if (opts.json) io.reporter.line(summary);
      else io.out(summary);
    });
}

/**
 * The dashboard on the embedded broker. With --broker-acl it has no user of that folder to
 * connect as, so the dashboard needs the open broker (docs/dashboard.md, "Running it").
 */
async function startServeDashboard(s: Serving, opts: ServeFlags, dashboard: ReturnType<typeof dashboardOptions>): Promise<Dashboard> {
  if (s.mqtt === null || s.brokerAcl !== null) {
    throw new OtaError('ERR_OTA_USAGE', '--dashboard needs the embedded broker without --broker-acl', { hint: 'drop --no-mqtt or --broker-acl, or run `ota fleet dashboard --broker URL` with an operator\'s credentials' });
  }
  return startDashboard({ broker: { url: s.mqtt.url }, prefix: 'ota', listen: opts.bind, port: opts.dashboardPort, published: s.root, ...dashboard });
}


function printAddresses(io: CliIo, s: Serving, o: { json: boolean; dashboard: Dashboard | undefined }): void {
  const http = { ...s.http, repoUrl: `${s.http.url}/repo` };
  const d = o.dashboard;
  if (o.json) {
    const dashboard = d === undefined ? null : { url: d.url, loginUrl: d.loginUrl, token: d.token };
    io.out(JSON.stringify({ published: s.root, http, mqtt: s.mqtt, mqtts: s.mqtts, brokerAcl: s.brokerAcl, dashboard, pid: process.pid }));
    return;
  }
  io.out(`serving ${s.root}`);
  io.out(`  http: ${http.url} (devices pull from ${http.repoUrl})`);
  const who = s.brokerAcl ? `users and rules of ${s.brokerAcl}` : 'no authentication';
  io.out(`  mqtt: ${s.mqtt ? `${s.mqtt.url} (embedded broker, MQTT 3.1.1, ${who})` : 'off'}`);
  if (s.mqtts) io.out(`  mqtts: ${s.mqtts.url} (the same broker over TLS, clients identified by their certificate)`);
  if (d) io.out(`  dashboard: ${d.loginUrl ?? `${d.url} (log in with the password of --password-file)`}`);
}

/** The first SIGINT or SIGTERM stops the server; a second one, while it closes, ends the process at once (as other commands do). */
function untilSignal(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let first: NodeJS.Signals | undefined;
  let resolve: (s: NodeJS.Signals) => void = () => {};
  const signal = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (sig: NodeJS.Signals) => {
    if (first !== undefined) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    first = sig;
    resolve(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
