import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { multistrapToManifest } from '../../../host-tools/import/multistrap.js';

// Values of a multistrap configuration that become paths or URLs: keyring package names become
// /usr/share/keyrings/<name>.gpg, suites and components parts of the archive's URLs. Hostile ones
// are bad input (exit 2) naming the line, never a file outside those places.

const conf = (section: Record<string, string>) =>
  ['[General]', 'arch=amd64', 'bootstrap=Debian', '[Debian]', 'packages=less', 'source=http://deb.example/debian', ...Object.entries({ suite: 'bookworm', ...section }).map(([k, v]) => `${k}=${v}`)].join('\n');

function refusal(text: string): OtaError {
  try {
    multistrapToManifest(text, 'rootfs.conf', { exists: () => true });
  } catch (e) {
    if (e instanceof OtaError) return e;
    throw e;
  }
  throw new Error('expected the configuration to be refused');
}

describe('multistrap values that become paths', () => {
  it('refuses a keyring= that is a path, not a package name', () => {
    const e = refusal(conf({ keyring: '../../../etc/shadow' }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/^rootfs\.conf:\d+: \[Debian\] "\.\.\/\.\.\/\.\.\/etc\/shadow" is not a package name/);
  });

  it('refuses a suite= or components= that leaves the archive, naming the line (exit 2, not a bug report)', () => {
    const suite = refusal(conf({ suite: '../../../x' }));
    expect(suite.exitCode).toBe(2);
    expect(suite.message).toMatch(/^rootfs\.conf:7: \[Debian\] suite \.\.\/\.\.\/\.\.\/x: a suite name/);
    const comps = refusal(conf({ components: 'main ../../x' }));
    expect(comps.exitCode).toBe(2);
    expect(comps.message).toMatch(/\[Debian\] components main \.\.\/\.\.\/x: a component name/);
  });

  it('keeps the names Debian and Ubuntu use', () => {
    const { yaml } = multistrapToManifest(conf({ suite: 'bookworm-security', components: 'main non-free-firmware updates/main', keyring: 'debian-archive-keyring' }), 'rootfs.conf', { exists: () => true });
    expect(yaml).toContain('bookworm-security');
    expect(yaml).toContain('/usr/share/keyrings/debian-archive-keyring.gpg');
  });
});
