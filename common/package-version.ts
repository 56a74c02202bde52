import { readFile } from './lean-fs.js';
import { agentBuild } from './build-info.js';

/**
 * The deb-ota package's version, which both `ota` and `ota-agent` print: the agent ships in the
 * same package, so the two are one.
 *
 * @example
 * await packageVersion(); // '0.1.0'
 */
export async function packageVersion(): Promise<string> {
  // The one-file agent carries its version; it has no package.json beside it (common/build-info.ts).
  const built = agentBuild();
  if (built !== null) return built.version;
  // dist/common/package-version.js when built, common/package-version.ts under tsx.
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'deb-ota' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}
