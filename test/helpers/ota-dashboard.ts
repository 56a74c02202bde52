import { join } from 'node:path';
import { start, type Started } from '../../common/exec.js';

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

const OTA = join(import.meta.dirname, 'ota-cli.ts');

export async function startOtaDashboard(broker: string, extraArgs: string[] = []): Promise<OtaDashboard> {
  const child = start('ota fleet dashboard', [process.execPath, '--import', 'tsx', OTA, 'fleet', 'dashboard', '--broker', broker, '--port', '0', '--json', ...extraArgs], { env: { ...process.env, CI: '1' } });
  let stdout = '';
  let stderr = '';
  child.onStderr((t) => (stderr += t));
  const first = new Promise<string>((resolve, reject) => {
    child.onStdout((t) => {
      stdout += t;
      const nl = stdout.indexOf('\n');
      if (nl >= 0) resolve(stdout.slice(0, nl));
    });
    void child.exited.then((r) => reject(new Error(`ota fleet dashboard exited (${r.code ?? r.signal}) before printing its address:\n${r.stderr}`)), reject);
  });
  const doc = JSON.parse(await first) as { dashboard: { url: string; loginUrl: string | null; token: string | null } };
  return {
    ...doc.dashboard,
    child,
    log: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      return child.exited;
    },
  };
}
