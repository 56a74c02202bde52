import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../host-tools/manifest/load.js';
import { ota } from '../../helpers/cli.js';

// `ota import multistrap` on every configuration Debian's multistrap package ships (installed by
// scripts/setup): the ones that set no arch= (multistrap then takes -a) convert with --arch, the
// ones that do keep theirs unless --arch overrides it, and `suite=trusty universe` is a suite with
// an extra component, as multistrap writes it into sources.list.

const DIRS = ['/usr/share/multistrap', '/usr/share/doc/multistrap/examples'];
const shipped = DIRS.filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.conf')).map((f) => path.join(d, f))).sort();
const WITHOUT_ARCH = ['chroot', 'full', 'jessie', 'multiarch', 'sid', 'squeeze', 'stretch', 'trusty', 'wheezy'];

async function importJson(...args: string[]): Promise<{ code: number; doc: { manifest: string; warnings: string[] } | undefined; err: string }> {
  const r = await ota('import', 'multistrap', ...args, '--json');
  return { code: r.code, doc: r.code === 0 ? (JSON.parse(r.out.join('\n')) as { manifest: string; warnings: string[] }) : undefined, err: r.err };
}

describe("multistrap's shipped example configurations", () => {
  it('are installed (scripts/setup installs the multistrap package)', () => {
    expect(shipped.map((f) => path.basename(f, '.conf')).sort()).toEqual(
      ['chroot', 'full', 'jessie', 'multiarch', 'multistrap-example', 'sid', 'squeeze', 'stretch', 'trusty-ports', 'trusty', 'wheezy'].sort(),
    );
  });

  it.each(shipped)('%s converts with --arch into a manifest for that architecture', async (file) => {
    const { code, doc, err } = await importJson(file, '--arch', 'arm64');
    expect(err).not.toMatch(/^error:/m);
    expect(code).toBe(0);
    const manifest = parseManifest(doc!.manifest, file);
    expect(manifest.arch).toBe('arm64');
    expect(manifest.sources.length).toBeGreaterThan(0);
    for (const s of manifest.sources) expect(s.suites).toHaveLength(1);
    expect(manifest.packages.length).toBeGreaterThan(0);
  });

  it('without --arch, the ones that set no arch= are refused with a hint to pass it; the others keep their own', async () => {
    for (const file of shipped) {
      const { code, doc, err } = await importJson(file);
      if (WITHOUT_ARCH.includes(path.basename(file, '.conf'))) {
        expect(code).toBe(2);
        expect(err).toContain(`error: ${file} sets no arch= in [General]`);
        expect(err).toMatch(/^hint: .*pass --arch/m);
      } else {
        expect(code).toBe(0);
        expect(parseManifest(doc!.manifest, file).arch).toBe(file.includes('trusty-ports') ? 'armhf' : 'amd64');
      }
    }
  });

  it('reads `suite=trusty universe` as the suite trusty with universe before the default component main', async () => {
    const { doc } = await importJson('/usr/share/multistrap/trusty-ports.conf');
    const manifest = parseManifest(doc!.manifest, 'trusty-ports');
    expect(manifest.sources.map((s) => [s.uri, s.suites, s.components])).toEqual([['http://ports.ubuntu.com/', ['trusty'], ['universe', 'main']]]);
  });

  it('refuses an --arch the manifest does not support', async () => {
    const { code, err } = await importJson('/usr/share/multistrap/sid.conf', '--arch', 'mipsel');
    expect(code).toBe(2);
    expect(err).toContain('error: --arch mipsel is not supported');
  });
});
