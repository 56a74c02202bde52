/**
 * A TypeScript entry point bundled into one ES module, for tests that start it as a child process
 * many times: through tsx's loader each start of the agent spends about a second loading modules,
 * the same code in one file starts in about a third of one. The bundle is written to
 * dist/test-bundles/<entry>.mjs (gitignored), so its packages (koffi, zod, ...) resolve from the
 * repository's node_modules and package.json is where the built CLI finds it
 * (common/package-version.ts). Each test process bundles afresh from the sources and replaces the
 * file atomically: a child started by another test file has read it whole already.
 *
 * @example
 * const child = await bundledChild(join(import.meta.dirname, 'crash-agent.ts'));
 * await start('agent', [process.execPath, child, ...args]).exited;
 */
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { writeFileAtomic } from '../../common/atomic-write.js';

const REPO = join(import.meta.dirname, '../..');
const built = new Map<string, Promise<string>>();

export function bundledChild(entry: string): Promise<string> {
  let out = built.get(entry);
  if (out === undefined) {
    out = bundle(entry);
    built.set(entry, out);
  }
  return out;
}

async function bundle(entry: string): Promise<string> {
  const outfile = join(REPO, 'dist/test-bundles', `${basename(entry, '.ts')}.mjs`);
  const result = await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile, write: false, logLevel: 'warning' });
  await writeFileAtomic(outfile, result.outputFiles[0]!.contents);
  return outfile;
}
