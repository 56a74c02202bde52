import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { main } from '../../../device-agent/cli/main.js';

// `ota-agent --version`: the agent's version, then libostree's as the library itself says and
// the ostree program of the same machine confirms, then Node's.

async function agent(...args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main(['node', 'ota-agent', ...args], { out: (l) => out.push(l), err: () => undefined, now: () => new Date() });
  return { code, out };
}

describe('ota-agent --version', () => {
  it('prints the agent, libostree and Node versions', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const ostree = /Version: '?([^'\s]+)'?/.exec((await run('ostree --version', ['ostree', '--version'])).stdout)![1];
    for (const flag of ['--version', '-V']) {
      expect(await agent(flag)).toEqual({ code: 0, out: [`ota-agent ${pkg.version}`, `libostree ${ostree}`, `node ${process.versions.node}`] });
    }
  });

  it('--json: one document', async () => {
    const r = await agent('--version', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.join('\n'))).toEqual({ agent: expect.any(String), node: process.versions.node, libostree: { version: expect.stringMatching(/^\d{4}\.\d+$/), note: null } });
  });

  it('an unknown command is a usage error (exit code 2), with --json an error document', async () => {
    const r = await agent('frobnicate', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out.join('\n'))).toMatchObject({ error: { code: 'ERR_OTA_USAGE', exitCode: 2 } });
  });
});
