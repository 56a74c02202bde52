import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { parseOstreeVersion } from '../../../host-tools/cli/version.js';
import { ota } from '../../helpers/cli.js';

// `ota --version`: ota's version, then libostree's version and its build's features, as the
// machine's libostree and ostree program say.

const SAMPLE = "libostree:\n Version: '2022.7'\n Features:\n  - libcurl\n  - gpgme\n  - sign-ed25519\n";

describe('ota --version', () => {
  it('parses the ostree program\'s --version output', () => {
    expect(parseOstreeVersion(SAMPLE)).toEqual({ version: '2022.7', features: ['libcurl', 'gpgme', 'sign-ed25519'] });
    expect(parseOstreeVersion('something else\n')).toBeNull();
  });

  it('prints ota\'s version, libostree\'s version and features, and who signs ed25519', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const ostree = parseOstreeVersion((await run('ostree --version', ['ostree', '--version'])).stdout)!;
    for (const flag of ['--version', '-V']) {
      const r = await ota(flag);
      expect(r.code).toBe(0);
      expect(r.out).toEqual([
        `ota ${pkg.version}`,
        `libostree ${ostree.version}`,
        `  features: ${ostree.features.join(' ')}`,
        expect.stringMatching(/^ed25519 signatures: made and checked by ota \(this libostree (is built without|has its own too)\)$/),
        `node ${process.versions.node}`,
      ]);
    }
    expect(ostree.features).toContain('gpgme');
  });

  it('--json: one document', async () => {
    const r = await ota('--version', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.join('\n'))).toMatchObject({
      ota: expect.any(String),
      libostree: { version: expect.stringMatching(/^\d{4}\.\d+$/), features: expect.arrayContaining(['gpgme']), note: null },
      ed25519: { ota: true },
    });
  });
});
