import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';

// What `ota` loads: a fresh node process (under tsx, on the sources) runs main() for a command's
// help, then for --version, reading its own /proc/self/maps after each. A command that does not
// touch a repository must not map libostree at startup; --version maps it (it asks the library).

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const PROBE = `
import { readFileSync } from 'node:fs';
const [root] = process.argv.slice(2);
const libostree = () => /libostree-1\\.so/.test(readFileSync('/proc/self/maps', 'utf8'));
const { main } = await import(root + 'host-tools/cli/main.ts');
const lines = [];
const sink = { write: () => true };
const help = await main(['node', 'ota', 'lock', '--help'], (l) => lines.push(l), sink);
const afterHelp = libostree();
const version = await main(['node', 'ota', '--version'], (l) => lines.push(l), sink);
console.log(JSON.stringify({ help, afterHelp, version, afterVersion: libostree(), versionLine: lines.find((l) => l.startsWith('libostree ')) }));
`;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-cli-startup-'));
  await writeFile(join(dir, 'probe.mjs'), PROBE);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('ota startup', () => {
  it('loads libostree for --version, not for another command', async () => {
    const { stdout } = await run('probe what ota loads', [process.execPath, '--import', 'tsx', join(dir, 'probe.mjs'), ROOT], { cwd: ROOT });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
      help: 0,
      afterHelp: false,
      version: 0,
      afterVersion: true,
      versionLine: expect.stringMatching(/^libostree \d{4}\.\d+$/),
    });
  });
});
