import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { envProxyPolicy, type AptProxySettings, type ProxyPolicy } from '../../common/proxy.js';

/**
 * The proxy policy of a lock or a build: the environment's proxy variables for every archive,
 * and, for the archives that came from the build machine's own apt sources (`uri: host`), apt's
 * `Acquire::http::Proxy` / `Acquire::https::Proxy` (and their per-host forms) as `apt-config dump`
 * reports them, so that ota fetches those archives the way apt on this machine would.
 *
 * @example
 * const proxy = await proxyPolicy({ env: process.env, aptScope: ['http://deb.debian.org/debian'] });
 */
export interface ProxyPolicyOptions {
  env: NodeJS.ProcessEnv;
  /** URIs of archives from apt's sources; apt's settings are read only when there are some. */
  aptScope: string[];
  /** Another apt configuration directory than /etc/apt (tests, a chroot's). */
  etcApt?: string;
}

export async function proxyPolicy(options: ProxyPolicyOptions): Promise<ProxyPolicy> {
  const policy = envProxyPolicy(options.env);
  const scope = [...new Set(options.aptScope)];
  if (scope.length === 0) return policy;
  const settings = await readAptProxy(options.etcApt);
  return { ...policy, apt: { settings, scope } };
}

/** apt's proxy settings; none when apt-config is not installed (a host without apt has no `host` sources either). */
export async function readAptProxy(etcApt?: string): Promise<AptProxySettings> {
  // APT_CONFIG is read before the configuration directory, so a Dir::Etc in it moves the whole of it.
  const dir = etcApt ? await mkdtemp(join(tmpdir(), 'ota-apt-config-')) : undefined;
  try {
    const env = { ...process.env };
    if (dir) {
      await writeFile(join(dir, 'apt.conf'), `Dir::Etc "${etcApt!.replace(/"/g, '')}";\n`);
      env.APT_CONFIG = join(dir, 'apt.conf');
    }
    const { stdout } = await run('read apt\'s proxy settings', ['apt-config', 'dump'], { env });
    return parseAptProxy(stdout);
  } catch (e) {
    if (e instanceof OtaError && e.code === 'ERR_OTA_EXEC' && /cannot run/.test(e.message)) return { perHost: {} };
    throw e;
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** The `Acquire::<http|https>::Proxy[::<host>] "<value>";` lines of `apt-config dump` (keys are case-insensitive in apt). */
export function parseAptProxy(dump: string): AptProxySettings {
  const out: AptProxySettings = { perHost: {} };
  for (const line of dump.split('\n')) {
    const m = /^acquire::(https?)::proxy(?:::(\S+))? "(.*)";$/i.exec(line.trim());
    if (!m) continue;
    const scheme = m[1]!.toLowerCase() as 'http' | 'https';
    const value = m[3]!.trim();
    if (value === '') continue;
    const normalised = value.toUpperCase() === 'DIRECT' ? 'DIRECT' : value;
    if (m[2]) out.perHost[`${scheme} ${m[2].toLowerCase()}`] = normalised;
    else out[scheme] = normalised;
  }
  return out;
}
