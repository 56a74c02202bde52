import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { agentBuild } from '../../common/build-info.js';

/**
 * koffi, loaded when first needed (it loads its native module as it starts): the one place that
 * names it, for libs.ts and version.ts. From dist/ it comes from node_modules. In the one-file
 * agent (docs/agent.md, "Shipping the agent") esbuild has bundled it, and this `require` is the
 * bundle's own: koffi's native module is then the one embedded in the executable
 * (embedded-koffi.ts).
 *
 * @example
 * const koffi = loadKoffi(); koffi.load('libostree-1.so.1');
 */
export function loadKoffi(): typeof KoffiModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bundle's require, seen by esbuild; never reached from dist/
  if (agentBuild() !== null) return require('koffi') as typeof KoffiModule;
  return createRequire(import.meta.url)('koffi') as typeof KoffiModule;
}
