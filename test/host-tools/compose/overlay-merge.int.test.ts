import { link, lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { mergeUpper } from '../../../host-tools/compose/overlay-merge.js';

// A real overlayfs (in a private mount namespace) over a lower tree whose file is hardlinked to
// an "object" outside it, as a stage-2 checkout is to the repository; the changes are then
// merged back and the object must be untouched.
it('merges an overlay upper directory into the lower one: writes, deletes, opaque dirs, metadata, type changes; objects untouched', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ota-overlay-'));
  const [lower, upper, work, mnt] = ['lower', 'upper', 'work', 'mnt'].map((d) => join(dir, d)) as [string, string, string, string];
  for (const d of [lower, upper, work, mnt, join(dir, 'objects'), join(lower, 'a'), join(lower, 'b'), join(lower, 'd')]) await mkdir(d, { recursive: true });
  const object = join(dir, 'objects/file1');
  await writeFile(object, 'shared\n');
  await link(object, join(lower, 'a/file1'));
  await writeFile(join(lower, 'a/file2'), 'two\n');
  await writeFile(join(lower, 'b/x'), 'x\n');
  await writeFile(join(lower, 'b/y'), 'y\n');
  await symlink('a', join(lower, 'c'));
  await writeFile(join(lower, 'd/keep'), 'keep\n');

  const script = [
    'set -e',
    `mount -t overlay overlay -o lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off ${mnt}`,
    `echo more >> ${mnt}/a/file1`,
    `rm ${mnt}/a/file2`,
    `rm -rf ${mnt}/b && mkdir ${mnt}/b && echo new > ${mnt}/b/new`,
    `echo e > ${mnt}/e`,
    `chmod 4755 ${mnt}/d/keep`,
    `rm ${mnt}/c && mkdir ${mnt}/c && echo z > ${mnt}/c/z`,
  ].join('\n');
  await run('overlay', ['unshare', '--mount', 'sh', '-c', script]);

  const r = await mergeUpper(upper, lower);
  expect(await readFile(object, 'utf8')).toBe('shared\n');
  expect((await stat(object)).nlink).toBe(1);
  expect(await readFile(join(lower, 'a/file1'), 'utf8')).toBe('shared\nmore\n');
  expect(await readdir(join(lower, 'a'))).toEqual(['file1']);
  expect(await readdir(join(lower, 'b'))).toEqual(['new']);
  expect(await readFile(join(lower, 'e'), 'utf8')).toBe('e\n');
  expect((await stat(join(lower, 'd/keep'))).mode & 0o7777).toBe(0o4755);
  expect((await lstat(join(lower, 'c'))).isDirectory()).toBe(true);
  expect(await readFile(join(lower, 'c/z'), 'utf8')).toBe('z\n');
  expect(r.removed).toBeGreaterThanOrEqual(3); // a/file2, b/x, b/y
  const { stdout } = await run('getfattr', ['getfattr', '-R', '-P', '-h', '-d', '-m', '^trusted\\.overlay\\.', '--absolute-names', lower], { okCodes: [0, 1] });
  expect(stdout.trim()).toBe('');
});
