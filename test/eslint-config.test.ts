import { join } from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

// The repository's own eslint.config.js, run on snippets that are never written to disk: the
// file path decides which area's rules apply, so each case names where the snippet would live.
const ROOT = join(import.meta.dirname, '..');
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT, overrideConfigFile: join(ROOT, 'eslint.config.js') });
});

async function ruleIds(code: string, path: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return r!.messages.filter((m) => m.severity === 2).map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

describe('eslint.config.js import rules', () => {
  it.each([
    ["import { spawn } from 'node:child_process';\nspawn('x');\n", 'host-tools/compose/x.ts'],
    ["import { spawn } from 'child_process';\nspawn('x');\n", 'common/http.ts'],
    ["export { spawn } from 'node:child_process';\n", 'node-ostree/x.ts'],
    ["import { spawn } from 'node:child_process';\nspawn('x');\n", 'test/host-tools/compose/x.test.ts'],
    ["import koffi from 'koffi';\nkoffi.load('x');\n", 'host-tools/compose/x.ts'],
    ["import koffi from 'koffi';\nkoffi.load('x');\n", 'common/exec.ts'],
    ["import { Agent } from '../../device-agent/agent.js';\nnew Agent();\n", 'host-tools/cli/x.ts'],
    ["import { Agent } from '../../../device-agent/agent.js';\nnew Agent();\n", 'test/host-tools/cli/x.test.ts'],
    ["import { lock } from '../host-tools/lock/lock.js';\nlock();\n", 'device-agent/x.ts'],
    ["import { lock } from '../host-tools/index.js';\nlock();\n", 'device-agent/x.ts'],
    ["import { build } from 'deb-ota';\nbuild();\n", 'device-agent/x.ts'],
    ["import { Repo } from '../node-ostree/index.js';\nRepo.open();\n", 'contract/x.ts'],
    ["import { b } from '../../bootloader/backend.js';\nb();\n", 'contract/documents/x.ts'],
    ["import { lock } from '../host-tools/lock/lock.js';\nlock();\n", 'contract/x.ts'],
    ["import { Agent } from '../device-agent/agent.js';\nnew Agent();\n", 'contract/x.ts'],
    ["import { spawn } from 'node:child_process';\nspawn('x');\n", 'contract/x.ts'],
    ["import { findRelease } from '../host-tools/bundle/published-dir.js';\nfindRelease();\n", 'bundle/x.ts'],
    ["import { updateSteps } from '../device-agent/update/index.js';\nupdateSteps();\n", 'bundle/x.ts'],
    ["import { build } from 'deb-ota';\nbuild();\n", 'bundle/x.ts'],
    ["import koffi from 'koffi';\nkoffi.load('x');\n", 'bundle/x.ts'],
  ])('refuses %j in %s', async (code, path) => {
    expect(await ruleIds(code, path)).toEqual(['no-restricted-imports']);
  });

  it.each([
    ["export const m = await import('node:child_process');\n", 'host-tools/compose/x.ts'],
    ["export const m = await import('koffi');\n", 'bootloader/x.ts'],
    ["export const m = await import('../device-agent/agent.js');\n", 'host-tools/x.ts'],
    ["export const m = await import('../host-tools/lock/lock.js');\n", 'device-agent/x.ts'],
    ["export const m = await import('../node-ostree/index.js');\n", 'contract/x.ts'],
    ["export const m = await import('../device-agent/update/index.js');\n", 'bundle/x.ts'],
  ])('refuses the dynamic %j in %s', async (code, path) => {
    expect(await ruleIds(code, path)).toEqual(['no-restricted-syntax']);
  });

  it.each([
    ["import { spawn } from 'node:child_process';\nspawn('x');\n", 'common/exec.ts'],
    ["import koffi from 'koffi';\nkoffi.load('x');\n", 'node-ostree/ffi/x.ts'],
    ["export const m = await import('koffi');\n", 'node-ostree/x.ts'],
    ["import koffi from 'koffi';\nkoffi.load('x');\n", 'test/node-ostree/x.test.ts'],
    ["import { Repo } from '../../node-ostree/index.js';\nimport { run } from '../../common/exec.js';\nimport { b } from '../../bootloader/backend.js';\nimport { c } from '../../contract/x.js';\nRepo.open(run, b, c);\n", 'host-tools/compose/x.ts'],
    ["import { Repo } from '../node-ostree/index.js';\nimport { run } from '../common/exec.js';\nimport { b } from '../bootloader/backend.js';\nimport { c } from '../contract/x.js';\nRepo.open(run, b, c);\n", 'device-agent/x.ts'],
    ["import { Repo } from 'deb-ota/node-ostree';\nRepo.open();\n", 'device-agent/x.ts'],
    ["import { OtaError } from '../common/errors.js';\nimport { z } from 'zod';\nimport { CompactSign } from 'jose';\nnew OtaError(z, CompactSign);\n", 'contract/x.ts'],
    ["import { OtaError } from '../../common/errors.js';\nimport { f } from '../fields.js';\nnew OtaError(f);\n", 'contract/documents/x.ts'],
    ["import { Repo } from '../node-ostree/index.js';\nimport { OtaError } from '../common/errors.js';\nimport { readSigned } from '../contract/index.js';\nnew OtaError(Repo, readSigned);\n", 'bundle/x.ts'],
    ["import { openBundle } from '../../bundle/index.js';\nopenBundle();\n", 'host-tools/verify/x.ts'],
    ["import { openBundle } from '../../bundle/index.js';\nopenBundle();\n", 'device-agent/update/x.ts'],
  ])('allows %j in %s', async (code, path) => {
    expect(await ruleIds(code, path)).toEqual([]);
  });
});

describe('eslint.config.js size limits', () => {
  const params = 'export function f(a: number, b: number, c: number, d: number, e: number): number {\n  return a + b + c + d + e;\n}\n';
  const longFunction = `export function f(): number {\n  let n = 0;\n${'  n++;\n'.repeat(80)}  return n;\n}\n`;

  it('refuses a fifth parameter and an 81-line function in a new file, as errors', async () => {
    expect(await ruleIds(params, 'host-tools/x.ts')).toEqual(['max-params']);
    expect(await ruleIds(longFunction, 'host-tools/x.ts')).toEqual(['max-lines-per-function']);
  });

  it('counts neither blank lines nor comments in a 400-line file', async () => {
    const body = Array.from({ length: 398 }, (_, i) => `export const v${i} = ${i};\n// why\n\n`).join('');
    expect(await ruleIds(`${body}export const a = 1;\nexport const b = 2;\n`, 'common/x.ts')).toEqual([]);
    expect(await ruleIds(`${body}export const a = 1;\nexport const b = 2;\nexport const c = 3;\n`, 'common/x.ts')).toEqual(['max-lines']);
  });

  it('lets a test file hold a long describe block', async () => {
    expect(await ruleIds(longFunction, 'test/common/x.test.ts')).toEqual([]);
  });
});
