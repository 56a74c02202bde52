import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';

// Bad input through the CLI's main(): a missing file, a mistyped repository, malformed YAML. Each
// is exit 2 (README's exit codes), says what is wrong in words (never a raw ENOENT), and leaves
// the disk as it was.

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ota-cli-input-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function expectBadInput(args: string[], message: string | RegExp): Promise<void> {
  const before = await readdir(dir);
  const r = await ota(...args);
  expect(r.code).toBe(2);
  expect(r.out).toEqual([]);
  if (typeof message === 'string') expect(r.err).toContain(`error: ${message}`);
  else expect(r.err).toMatch(message);
  expect(r.err).not.toMatch(/ENOENT|ENOTDIR|internal error/);
  expect(await readdir(dir)).toEqual(before);
}

describe('a file that does not exist', () => {
  const missing = () => path.join(dir, 'missing');

  it('ota lock: the manifest', async () => {
    await expectBadInput(['lock', `${missing()}.yaml`], `cannot read manifest ${missing()}.yaml: the file does not exist`);
  });

  it('ota lock --explain: the lockfile', async () => {
    await expectBadInput(['lock', '--explain', 'dash', `${missing()}.yaml`], `cannot read ${missing()}.lock: the file does not exist`);
  });

  it('ota build: the lockfile, and the repository is not created', async () => {
    await expectBadInput(['build', `${missing()}.lock`, '--repo', path.join(dir, 'repo')], `cannot read ${missing()}.lock: the file does not exist`);
  });

  it('ota import multistrap: the configuration', async () => {
    await expectBadInput(['import', 'multistrap', `${missing()}.conf`], `cannot read multistrap config ${missing()}.conf: the file does not exist`);
  });

  it('ota flash: the image', async () => {
    await expectBadInput(['flash', `${missing()}.img`, '--device', path.join(dir, 'out.img')], `cannot read the image ${missing()}.img: the file does not exist`);
  });

  it('ota diff and ota image: the repository', async () => {
    await expectBadInput(['diff', 'a', 'b', '--repo', path.join(dir, 'no-repo')], `cannot open the repository ${path.join(dir, 'no-repo')}: it does not exist`);
    const args = ['image', '--board', 'qemu-arm64', '--repo', path.join(dir, 'no-repo'), '--ref', 'x', '-o', path.join(dir, 'disk.img')];
    await expectBadInput(args, `cannot open the repository ${path.join(dir, 'no-repo')}: it does not exist`);
  });

  it("ota lock: a source's keyring", async () => {
    const manifest = path.join(dir, 'keyring.yaml');
    await writeFile(manifest, 'name: k\narch: amd64\nsources:\n  - uri: http://127.0.0.1:9/debian\n    suites: [stable]\n    keyring: missing.gpg\npackages: [dash]\n');
    await expectBadInput(['lock', manifest], `cannot read keyring ${path.join(dir, 'missing.gpg')}: the file does not exist`);
    await rm(manifest);
  });
});

describe('a path that is not what it should be', () => {
  it('a directory given as the manifest, the multistrap file or the image', async () => {
    await mkdir(path.join(dir, 'adir'), { recursive: true });
    const adir = path.join(dir, 'adir');
    await expectBadInput(['lock', adir], `cannot read manifest ${adir}: it is a directory, not a file`);
    await expectBadInput(['import', 'multistrap', adir], `cannot read multistrap config ${adir}: it is a directory, not a file`);
    await expectBadInput(['flash', adir, '--device', path.join(dir, 'out.img')], `cannot read the image ${adir}: it is a directory, not a file`);
  });

  it('a directory that is not an OSTree repository', async () => {
    const adir = path.join(dir, 'adir');
    await mkdir(adir, { recursive: true });
    await expectBadInput(['diff', 'a', 'b', '--repo', adir], `cannot open the repository ${adir}: it is not an OSTree repository (no config file in it)`);
  });
});

describe('malformed YAML', () => {
  it('names the file, the line and the column', async () => {
    const manifest = path.join(dir, 'bad.yaml');
    await writeFile(manifest, 'name: a\narch: amd64\npackages: [dash\n');
    await expectBadInput(['lock', manifest], new RegExp(`^error: ${manifest}:(\\d+) is not valid YAML \\(line \\1, column \\d+\\): \\S`, 'm'));
    await writeFile(manifest, 'name: a\n  arch: amd64\n');
    await expectBadInput(['lock', manifest], `${manifest}:1 is not valid YAML (line 1, column 7): Nested mappings are not allowed in compact mappings\n`);
    await rm(manifest);
  });
});

describe('--json', () => {
  it('prints a failure as one JSON document on stdout, and the message on stderr', async () => {
    const r = await ota('lock', path.join(dir, 'missing.yaml'), '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out.join('\n'))).toEqual({
      error: { code: 'ERR_OTA_MANIFEST', message: `cannot read manifest ${path.join(dir, 'missing.yaml')}: the file does not exist`, hint: expect.any(String), details: [], exitCode: 2 },
    });
    expect(r.err).toContain('error: cannot read manifest');
  });

  it('prints a command-line error (an unknown option) as the same document', async () => {
    const r = await ota('lock', 'image.yaml', '--bogus', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out.join('\n'))).toEqual({ error: { code: 'ERR_OTA_USAGE', message: "unknown option '--bogus'", hint: null, details: [], exitCode: 2 } });
    expect(r.err).toContain("error: unknown option '--bogus'");
  });
});
