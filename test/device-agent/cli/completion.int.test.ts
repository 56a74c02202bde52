import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { main } from '../../../device-agent/cli/main.js';

// `ota-agent completion bash` sourced into a real bash, its function called with COMP_WORDS and
// COMP_CWORD as bash's completion sets them; `ota-agent man` rendered by groff (man -l uses the
// same). The commands expected are those `ota-agent --help` lists, so a command registered later
// is expected too.

let dir: string;
let script: string;

async function agent(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  let err = '';
  const code = await main(['node', 'ota-agent', ...args], { out: (l) => out.push(l), err: (t) => (err += t), now: () => new Date() });
  return { code, out: out.join('\n'), err };
}

/** The command names in `ota-agent --help`'s Commands section, less commander's own `help`. */
async function helpCommands(): Promise<string[]> {
  const help = (await agent('--help')).out;
  const section = help.slice(help.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help').sort();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ota-agent-completion-'));
  const r = await agent('completion', 'bash');
  expect(r.code).toBe(0);
  script = path.join(dir, 'ota-agent.bash');
  await writeFile(script, `${r.out}\n`);
  await writeFile(path.join(dir, 'bundle.tar'), '');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What bash's completion would offer for the words typed, the last one being completed. */
async function complete(...words: string[]): Promise<string[]> {
  const quoted = ['ota-agent', ...words].map((w) => `'${w}'`).join(' ');
  const body = `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length}; _ota_agent; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await run('complete in bash', ['bash', '--norc', '--noprofile', '-c', body], { cwd: dir });
  return stdout.split('\n').filter((l) => l !== '').sort();
}

describe('ota-agent completion bash', () => {
  it('is registered for ota-agent and offers every command of --help, and completes a prefix', async () => {
    expect(await readFile(script, 'utf8')).toContain('complete -F _ota_agent ota-agent');
    const commands = await helpCommands();
    expect(commands).toEqual(expect.arrayContaining(['completion', 'health', 'man', 'status']));
    expect(await complete('')).toEqual(commands);
    expect(await complete('sta')).toEqual(['status']);
  });

  it("leaves out the daemon's hidden worker command, as --help does; the config verb is offered", async () => {
    expect(await helpCommands()).not.toContain('worker');
    expect(await complete('')).toContain('config');
    expect(await complete('wor')).toEqual([]);
    expect((await agent('completion', 'zsh')).out).not.toMatch(/\bworker\b/);
  });

  it("offers a command's own options, and skips --root's value when finding the command", async () => {
    expect(await complete('status', '--')).toEqual(['--help', '--json']);
    expect(await complete('--root', 'status', 'sta')).toEqual(['status']);
    expect(await complete('--root', 'bund')).toEqual(['bundle.tar']);
  });

  it('refuses a shell it has no script for', async () => {
    const r = await agent('completion', 'fish');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error: no completion for the shell "fish"');
  });
});

describe('ota-agent completion zsh', () => {
  it('is a compdef script for ota-agent that knows its commands and options', async () => {
    const r = await agent('completion', 'zsh');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('#compdef ota-agent');
    expect(r.out).toContain('compdef _ota_agent ota-agent');
    expect(r.out).toMatch(/" status"\)\n\s+cmds=\(\)\n\s+opts=\(--json -h --help\)/);
    expect(r.out).toMatch(/valueopts=\(--root\)/);
    if (existsSync('/usr/bin/zsh')) await run('zsh -n', ['zsh', '-n', '-c', r.out]);
  });
});

describe('ota-agent man', () => {
  it('renders with groff without a warning, with every command, option, exit code and file', async () => {
    const r = await agent('man');
    expect(r.code).toBe(0);
    const page = path.join(dir, 'ota-agent.1');
    await writeFile(page, `${r.out}\n`);
    const rendered = await run('render ota-agent.1', ['groff', '-man', '-Tutf8', '-ww', '-P-cbou', page], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    expect(rendered.stderr).toBe('');
    // -P-cbou: no bold or underline (plain text); groff may still hyphenate words across lines.
    const text = rendered.stdout.replace(/\u2010\n\s*/g, '').replace(/\u2010|\u2212/g, '-');
    expect(text).toMatch(/^OTA-AGENT\(1\)/);
    for (const c of await helpCommands()) expect(text).toContain(`ota-agent ${c}`);
    expect(text).not.toMatch(/\bworker\b/);
    for (const o of ['--root <dir>', '--json', '-V, --version']) expect(text).toContain(o);
    expect(text).toMatch(/EXIT STATUS[\s\S]*\b77\b[\s\S]*FILES[\s\S]*\/etc\/ota\/agent\.yaml[\s\S]*SEE ALSO/);
  });

  it('takes its date from SOURCE_DATE_EPOCH, so a package build is reproducible', async () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      const [a, b] = [await agent('man'), await agent('man')];
      expect(a.out.split('\n')[0]).toMatch(/^\.TH OTA\\-AGENT 1 "2023-11-14" "ota\\-agent /);
      expect(b.out).toBe(a.out);
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });
});

