import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { startDashboard, type Dashboard, type DashboardOptions } from '../../dashboard/dashboard.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, type BrokerFlags } from './fleet-broker.js';
import { untilInterrupted } from './fleet-watch.js';

/**
 * `ota fleet dashboard --broker URL`: the fleet dashboard against any broker, until Ctrl-C
 * (docs/dashboard.md). `ota serve --dashboard` runs the same with its own broker; both take the
 * options `addDashboardOptions` adds.
 *
 * @example
 * // $ ota fleet dashboard --broker mqtt://127.0.0.1:1883
 * // dashboard: http://127.0.0.1:8090/login?token=3q2-...
 */
export interface DashboardFlags {
  passwordFile?: string;
  cert?: string;
  key?: string;
  origin?: string[];
  signingKey?: string;
  rolloutState?: string;
  json?: boolean;
}

interface FleetDashboardFlags extends BrokerFlags, DashboardFlags {
  listen: string;
  port: number;
  published?: string;
}

export function addDashboardOptions(cmd: Command): Command {
  return cmd
    .option('--password-file <file>', "log in with the first line of this file (default: a random token, printed at start)")
    .option('--cert <file>', 'serve the dashboard over HTTPS with this PEM certificate (with --key)')
    .option('--key <file>', 'the PEM key of --cert')
    .option('--origin <url>', 'a further origin the page is reached by, e.g. https://ota.lan:8090 (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--signing-key <dir>', "the operator's signing key (as `ota fleet rollout --key`): the page's actions are signed with it; without it the page only shows")
    .option('--rollout-state <dir>', "the folder of the rollouts' state files (default: `ota fleet rollout`'s, $XDG_STATE_HOME/deb-ota/rollouts)");
}

/** The dashboard's part of the options, checked together. */
export function dashboardOptions(f: DashboardFlags): Pick<DashboardOptions, 'passwordFile' | 'tls' | 'origins' | 'signingKey' | 'rolloutStateDir'> {
  if ((f.cert === undefined) !== (f.key === undefined)) throw new OtaError('ERR_OTA_USAGE', '--cert and --key go together', { hint: 'give both for HTTPS, or neither for HTTP' });
  const tls = f.cert === undefined ? undefined : { certFile: f.cert, keyFile: f.key! };
  return { passwordFile: f.passwordFile, tls, origins: f.origin, signingKey: f.signingKey, rolloutStateDir: f.rolloutState };
}

export function registerFleetDashboard(fleet: Command, io: CliIo): void {
  const cmd = fleet
    .command('dashboard')
    .description('serve the fleet dashboard (fleet, devices, releases, rollouts; live) as a web page until Ctrl-C')
    .option('--listen <address>', 'address to listen on (default loopback only)', '127.0.0.1')
    .option('--port <port>', 'HTTP(S) port (0 picks a free one)', parsePort('--port'), 8090)
    .option('--published <dir>', 'a published directory whose releases the release page lists (default: the groups\' retained releases)')
    .option('--json', 'print the address and login token as one JSON line on stdout (docs/cli-json.md)');
  addDashboardOptions(cmd);
  addBrokerOptions(cmd).action(async (opts: FleetDashboardFlags) => {
    const stop = untilInterrupted();
    try {
      const d = await startDashboard({ broker: brokerOptions(opts), prefix: opts.prefix, listen: opts.listen, port: opts.port, published: opts.published, ...dashboardOptions(opts) });
      printDashboard(io, d, opts.json === true);
      await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })));
      await d.close();
    } finally {
      stop.dispose();
    }
    io.reporter.line('ota fleet dashboard: stopped');
  });
}

/** The address (and the token to log in with) as a line, or one JSON line with --json. */
export function printDashboard(io: CliIo, d: Dashboard, json: boolean): void {
  if (json) return io.out(JSON.stringify({ dashboard: { url: d.url, loginUrl: d.loginUrl, token: d.token, pid: process.pid } }));
  io.out(`dashboard: ${d.loginUrl ?? `${d.url} (log in with the password of --password-file)`}`);
}

export function parsePort(option: string): (v: string) => number {
  return (v) => {
    const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 0 && n <= 65535)) throw new OtaError('ERR_OTA_USAGE', `${option} takes a port number from 0 to 65535, not "${v}"`, { hint: '0 picks a free port' });
    return n;
  };
}
