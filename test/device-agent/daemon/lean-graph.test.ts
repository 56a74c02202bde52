import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '../../..');

/** Every file the relay's entry pulls in, as esbuild resolves them (packages bundled, so theirs show too). */
async function relayInputs(): Promise<string[]> {
  const r = await build({ entryPoints: [join(REPO, 'device-agent/daemon/main.ts')], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
  return Object.keys(r.metafile.inputs);
}

describe('the relay module graph (docs/agent.md, "The daemon and its workers")', () => {
  it('holds no schema, YAML, JOSE, CLI, HTTP or native library, and nothing of libostree', async () => {
    const inputs = await relayInputs();
    const heavy = inputs.filter((p) => /(^|\/)node_modules\/(zod|yaml|jose|commander|undici|koffi|systeminformation)\//.test(p) || /(^|\/)node-ostree\//.test(p));
    expect(heavy).toEqual([]);
    // The contract comes in only through its zod-free modules (types are erased).
    expect(inputs.filter((p) => p.startsWith('contract/')).sort()).toEqual(['contract/limits.ts', 'contract/topics.ts']);
  });

  it('does hold mqtt.js and the relay itself, so the check above looks at the real graph', async () => {
    const inputs = await relayInputs();
    expect(inputs.some((p) => /node_modules\/mqtt\//.test(p))).toBe(true);
    expect(inputs).toContain('device-agent/daemon/relay.ts');
  });
});
