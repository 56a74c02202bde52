import { describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { libostreeVersion, probeLibostree } from '../../node-ostree/version.js';

// The library's version, found with ostree_check_version alone, against what the ostree program
// of the same Debian package prints.

describe('libostreeVersion', () => {
  it('is the version `ostree --version` prints', async () => {
    const printed = /Version:\s*'?([\d.]+)'?/.exec((await run('ostree --version', ['ostree', '--version'])).stdout)?.[1];
    const v = libostreeVersion();
    expect(v.version).toBe(printed);
    expect(v.version).toBe(`${v.year}.${v.release}`);
  });
});

describe('probeLibostree', () => {
  it('is the version when the library loads, and the reason when it does not', () => {
    expect(probeLibostree()).toEqual({ version: libostreeVersion().version, note: null });
    const missing = probeLibostree('libostree-missing.so.1');
    expect(missing.version).toBeNull();
    expect(missing.note).toMatch(/^libostree-missing\.so\.1 could not be loaded: .+/);
  });
});
