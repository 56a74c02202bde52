import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { shellQuote } from '../../../common/argv.js';
import { maintscriptHelperShim, parseFailure, preinstScript } from '../../../host-tools/compose/stage2-scripts.js';

describe('parseFailure', () => {
  it("names package, script and status from dpkg's configure error", () => {
    const out = 'Setting up fx-bad (1) ...\nboom\ndpkg: error processing package fx-bad (--configure):\n installed fx-bad package post-installation script subprocess returned error exit status 3\nErrors were encountered while processing:\n fx-bad\n';
    expect(parseFailure(out)).toEqual({ package: 'fx-bad', script: 'postinst', status: 3 });
  });
  it('names a failed preinst from our own marker', () => {
    expect(parseFailure('x\nota-stage2: preinst libc6:arm64 127\n')).toEqual({ package: 'libc6:arm64', script: 'preinst', status: 127 });
  });
  it('returns nothing for output without a failure it knows', () => {
    expect(parseFailure("dpkg: error: 2 expected programs not found in PATH")).toBeUndefined();
  });
});

describe('preinstScript', () => {
  it('runs dash first, then the rest in the given order, each quoted', () => {
    const s = preinstScript([{ package: 'a', arch: 'amd64', path: '/var/lib/dpkg/info/a.preinst' }, { package: 'dash', arch: 'amd64', path: "/x y'z" }], '1.21.22');
    const calls = s.split('\n').filter((l) => l.startsWith('run_preinst '));
    expect(calls).toEqual([`run_preinst dash amd64 '/x y'\\''z'`, 'run_preinst a amd64 /var/lib/dpkg/info/a.preinst']);
  });
});

describe('shellQuote', () => {
  it('leaves plain words alone and quotes the rest so sh reads them back', async () => {
    for (const s of ['plain', 'a b', "it's", '$HOME', '']) {
      const { stdout } = await run('sh', ['sh', '-c', `printf %s ${shellQuote(s) || "''"}`]);
      expect(stdout).toBe(s);
    }
  });
});

// The shim runs under the host's sh here; the stand-in for the real helper records its calls.
describe('the dpkg-maintscript-helper shim', () => {
  const setup = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-shim-'));
    const real = join(dir, 'real-helper');
    await writeFile(real, `#!/bin/sh\necho "real $*"\n`);
    await chmod(real, 0o755);
    const shim = join(dir, 'shim');
    await writeFile(shim, maintscriptHelperShim(real));
    await chmod(shim, 0o755);
    return { dir, shim };
  };
  const call = async (shim: string, name: string, args: string[]) => (await run('shim', [shim, ...args], { env: { ...process.env, DPKG_MAINTSCRIPT_NAME: name, DPKG_MAINTSCRIPT_PACKAGE: 'p' } })).stdout;

  it('answers the four file commands itself on a first install (preinst install, postinst configure, no old version)', async () => {
    const { shim, dir } = await setup();
    expect(await call(shim, 'preinst', ['rm_conffile', '/etc/x', '1.0', '--', 'install'])).toBe('');
    expect(await call(shim, 'postinst', ['mv_conffile', '/etc/a', '/etc/b', '1.0', '--', 'configure', ''])).toBe('');
    expect(await call(shim, 'postinst', ['dir_to_symlink', join(dir, 'd'), '../e', '1.0', '--', 'configure'])).toBe('');
    expect(await call(shim, 'preinst', ['symlink_to_dir', '/usr/share/doc/x', 'y', '1.0', '--', 'install'])).toBe('');
  });

  it('passes everything else to the real helper: upgrades, other commands, a .dpkg-backup to finish', async () => {
    const { shim, dir } = await setup();
    expect(await call(shim, 'preinst', ['rm_conffile', '/etc/x', '1.0', '--', 'upgrade', '0.9'])).toBe('real rm_conffile /etc/x 1.0 -- upgrade 0.9\n');
    expect(await call(shim, 'postinst', ['supports', 'rm_conffile'])).toBe('real supports rm_conffile\n');
    expect(await call(shim, 'postrm', ['rm_conffile', '/etc/x', '1.0', '--', 'purge'])).toBe('real rm_conffile /etc/x 1.0 -- purge\n');
    await writeFile(join(dir, 'd.dpkg-backup'), '');
    expect(await call(shim, 'postinst', ['dir_to_symlink', join(dir, 'd'), '../e', '--', 'configure'])).toBe(`real dir_to_symlink ${join(dir, 'd')} ../e -- configure\n`);
  });
});
