import type { Started } from '../../common/exec.js';
import { startOtaJsonLine } from './ota-process.js';

/**
 * `ota fleet dashboard --broker URL --port 0 --json` as its own process (the CLI from the
 * sources): resolves once it printed its address and login link. `stop()` sends SIGTERM and
 * waits for the exit.
 *
 * @example
 * const d = await startOtaDashboard(broker.url);
 * await page.goto(d.loginUrl!);
 * await d.stop();
 */
export interface OtaDashboard {
  url: string;
  loginUrl: string | null;
  token: string | null;
  child: Started;
  log: () => string;
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export async function startOtaDashboard(broker: string, extraArgs: string[] = []): Promise<OtaDashboard> {
  const { doc, child, log } = await startOtaJsonLine<{ dashboard: { url: string; loginUrl: string | null; token: string | null } }>('ota fleet dashboard', ['fleet', 'dashboard', '--broker', broker, '--port', '0', '--json', ...extraArgs]);
  return {
    ...doc.dashboard,
    child,
    log,
    stop: async () => {
      child.kill('SIGTERM');
      return child.exited;
    },
  };
}
