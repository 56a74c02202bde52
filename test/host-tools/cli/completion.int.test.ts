import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { ota } from '../../helpers/cli.js';

// `ota completion bash` sourced into a real bash, its function called with COMP_WORDS/COMP_CWORD
// as bash's completion sets them; `ota man` rendered by groff (man -l uses the same).

let dir: string;
let script: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ota-completion-'));
  const r = await ota('completion', 'bash');
  expect(r.code).toBe(0);
  script = path.join(dir, 'ota.bash');
  await writeFile(script, `${r.out.join('\n')}\n`);
  await writeFile(path.join(dir, 'image.yaml'), '');
  await writeFile(path.join(dir, 'image.lock'), '');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What bash's completion would offer for the words typed, the last one being completed. */
async function complete(...words: string[]): Promise<string[]> {
  const quoted = ['ota', ...words].map((w) => `'${w}'`).join(' ');
  const body = `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length}; _ota; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await run('complete in bash', ['bash', '--norc', '--noprofile', '-c', body], { cwd: dir });
  return stdout.split('\n').filter((l) => l !== '').sort();
}

describe('ota completion bash', () => {
  it('offers the commands, and completes a prefix', async () => {
    expect(await complete('')).toEqual(['announce', 'build', 'bundle', 'completion', 'diff', 'flash', 'fleet', 'image', 'import', 'keys', 'lock', 'log', 'man', 'publish', 'serve', 'verify']);
    expect(await complete('loc')).toEqual(['lock']);
  });

  it('offers subcommands, then the subcommand\'s own options', async () => {
    expect(await complete('import', '')).toEqual(['multistrap']);
    expect(await complete('import', 'multistrap', '--a')).toEqual(['--arch']);
  });

  it('skips an option\'s value when finding the command, and completes files for a value or an argument', async () => {
    expect(await complete('build', '--cache-dir', 'man', '--c')).toEqual(['--cache-dir']);
    expect(await complete('lock', '--cache-dir', 'ima')).toEqual(['image.lock', 'image.yaml']);
    expect(await complete('lock', 'image.y')).toEqual(['image.yaml']);
    expect(await complete('lock', '--json', '--ch')).toEqual(['--check']);
  });

  it('refuses a shell it has no script for', async () => {
    const r = await ota('completion', 'fish');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error: no completion for the shell "fish"');
  });
});

describe('ota completion zsh', () => {
  it('is a compdef script that knows every command and option', async () => {
    const r = await ota('completion', 'zsh');
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text.split('\n')[0]).toBe('#compdef ota');
    expect(text).toContain('" import multistrap")');
    expect(text).toMatch(/opts=\([^)]*--cache-dir[^)]*--json/);
    if (existsSync('/usr/bin/zsh')) await run('zsh -n', ['zsh', '-n', '-c', text]);
  });
});

describe('ota man', () => {
  it('renders with groff without a warning, with every command, option and exit code', async () => {
    const r = await ota('man');
    expect(r.code).toBe(0);
    const page = path.join(dir, 'ota.1');
    await writeFile(page, `${r.out.join('\n')}\n`);
    const rendered = await run('render ota.1', ['groff', '-man', '-Tutf8', '-ww', '-P-cbou', page], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    expect(rendered.stderr).toBe('');
    // -P-cbou: no bold or underline (plain text); groff may still hyphenate words across lines.
    const text = rendered.stdout.replace(/\u2010\n\s*/g, '').replace(/\u2010|\u2212/g, '-');
    expect(text).toMatch(/^OTA\(1\)/);
    for (const c of ['ota lock', 'ota import multistrap', 'ota build', 'ota diff', 'ota image', 'ota flash', 'ota completion', 'ota man']) expect(text).toContain(c);
    for (const o of ['--cache-dir <dir>', '--fallback-uri <uri>', '-a, --arch <arch>', '--json']) expect(text).toContain(o);
    expect(text).toMatch(/EXIT STATUS[\s\S]*\b3\b[\s\S]*ENVIRONMENT[\s\S]*OTA_CACHE_DIR/);
  });
});
