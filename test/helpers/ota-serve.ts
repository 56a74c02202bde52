import type { Started } from '../../common/exec.js';
import { startOtaJsonLine } from './ota-process.js';

/**
 * `ota serve PUBLISHED --http-port 0 --mqtt-port 0 --json` as its own process (the CLI from the
 * sources): resolves once it printed the addresses it bound. `stop()` sends a signal and waits
 * for the exit.
 *
 * @example
 * const srv = await startOtaServe(published);
 * await pull(repo, srv.repoUrl, { refs: [commit] });
 * expect((await srv.stop('SIGTERM')).code).toBe(0);
 */
export interface OtaServe {
  httpUrl: string;
  /** `${httpUrl}/repo`: what a device's remote points at. */
  repoUrl: string;
  /** null with --no-mqtt. */
  mqttUrl: string | null;
  /** With --broker-acl and --mqtts-port: the TLS listener, else null. */
  mqttsUrl: string | null;
  /** With --dashboard: its address and login link (null with --password-file), else null. */
  dashboard: { url: string; loginUrl: string | null } | null;
  child: Started;
  /** What it wrote to stderr so far (with -v, a line per request). */
  log: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

type ServeDocument = { http: { url: string; repoUrl: string }; mqtt: { url: string } | null; mqtts?: { url: string } | null; dashboard?: { url: string; loginUrl: string | null } | null };

export async function startOtaServe(published: string, extraArgs: string[] = []): Promise<OtaServe> {
  const { doc, child, log } = await startOtaJsonLine<ServeDocument>('ota serve', ['serve', published, '--http-port', '0', '--mqtt-port', '0', '--json', ...extraArgs]);
  return {
    httpUrl: doc.http.url,
    repoUrl: doc.http.repoUrl,
    mqttUrl: doc.mqtt?.url ?? null,
    mqttsUrl: doc.mqtts?.url ?? null,
    dashboard: doc.dashboard ?? null,
    child,
    log,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      return child.exited;
    },
  };
}
