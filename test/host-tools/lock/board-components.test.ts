import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { parseRelease } from '../../../host-tools/apt/release.js';
import { planBoardComponents, type PlannedSuite } from '../../../host-tools/lock/board-components.js';

// The plan is data: which components each suite reads once the board adds its own. No archive is
// fetched here; the Releases are written out as an archive publishes them.

const hash = (c: string) => c.repeat(64);
function release(components: string[], arches = ['arm64'], listed = components): ReturnType<typeof parseRelease> {
  const files = listed.flatMap((c) => arches.map((a) => ` ${hash('a')} 10 ${c.replace(/^updates\//, '')}/binary-${a}/Packages.xz`));
  return parseRelease(`Suite: x\nArchitectures: ${arches.join(' ')}\nComponents: ${components.join(' ')}\nSHA256:\n${files.join('\n')}\n`, 'test');
}
const suite = (uri: string, s: string, components = ['main']): PlannedSuite => ({ uri, suite: s, components, label: `sources[0] (image.yaml) ${uri} ${s}` });
const rpi = { name: 'rpi', components: ['non-free-firmware'] };

describe('planBoardComponents', () => {
  it('adds the board\'s component to every suite whose Release offers it, and leaves the others as they were', () => {
    const suites = [suite('http://a.example/debian', 'bookworm'), suite('http://a.example/debian', 'bookworm-updates'), suite('http://vendor.example/apt', 'vendor')];
    const releases = [release(['main', 'contrib', 'non-free-firmware']), release(['main', 'non-free-firmware']), release(['main'])];
    expect(planBoardComponents(suites, releases, rpi, 'arm64', 'image.yaml')).toEqual([['main', 'non-free-firmware'], ['main', 'non-free-firmware'], ['main']]);
    expect(suites[0]!.components).toEqual(['main']); // the input is not changed
  });

  it('takes Debian security\'s `updates/<component>` for the component', () => {
    const plan = planBoardComponents([suite('http://a.example/debian-security', 'bookworm-security')], [release(['updates/main', 'updates/non-free-firmware'])], rpi, 'arm64', 'image.yaml');
    expect(plan).toEqual([['main', 'non-free-firmware']]);
  });

  it('does not add a component the Release lists but publishes no index of for the architecture', () => {
    const suites = [suite('http://a.example/debian', 'bookworm'), suite('http://b.example/debian', 'bookworm')];
    const releases = [release(['main', 'non-free-firmware'], ['arm64'], ['main']), release(['main', 'non-free-firmware'])];
    expect(planBoardComponents(suites, releases, rpi, 'arm64', 'image.yaml')).toEqual([['main'], ['main', 'non-free-firmware']]);
  });

  it('reads a component once per suite: not again where the source already has it, nor in a second entry of the same suite', () => {
    const suites = [suite('http://a.example/debian', 'bookworm', ['main']), suite('http://a.example/debian', 'bookworm', ['contrib']), suite('http://b.example/debian', 'bookworm', ['main', 'non-free-firmware'])];
    const r = release(['main', 'contrib', 'non-free-firmware']);
    expect(planBoardComponents(suites, [r, r, r], rpi, 'arm64', 'image.yaml')).toEqual([['main', 'non-free-firmware'], ['contrib'], ['main', 'non-free-firmware']]);
  });

  it('leaves flat repositories alone', () => {
    const suites = [suite('http://flat.example/repo', './', []), suite('http://a.example/debian', 'bookworm')];
    const plan = planBoardComponents(suites, [release(['non-free-firmware']), release(['main', 'non-free-firmware'])], rpi, 'arm64', 'image.yaml');
    expect(plan).toEqual([[], ['main', 'non-free-firmware']]);
  });

  it('fails naming the component, the board and the sources checked when no suite offers it', () => {
    const suites = [suite('http://a.example/debian', 'bookworm'), suite('http://a.example/debian-security', 'bookworm-security')];
    let err: unknown;
    try {
      planBoardComponents(suites, [release(['main', 'non-free-firmware']), release(['updates/main'])], { name: 'rpi', components: ['non-free-firmware', 'vendor-blobs'] }, 'arm64', 'image.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OtaError);
    const e = err as OtaError;
    expect(e.code).toBe('ERR_OTA_SOURCES');
    expect(e.message).toBe(
      'board rpi needs archive component vendor-blobs (firmware.components), but none of the sources of image.yaml carries it for arm64; checked: http://a.example/debian bookworm, http://a.example/debian-security bookworm-security',
    );
    expect(e.hint).toMatch(/components: \[vendor-blobs\].*firmware\.components/);
    expect(e.details).toEqual([
      'sources[0] (image.yaml) http://a.example/debian bookworm: http://a.example/debian bookworm (Components: main non-free-firmware)',
      'sources[0] (image.yaml) http://a.example/debian-security bookworm-security: http://a.example/debian-security bookworm-security (Components: updates/main)',
    ]);
  });

  it('changes nothing for a board without components', () => {
    expect(planBoardComponents([suite('http://a.example/debian', 'bookworm')], [release(['main'])], { name: 'x', components: [] }, 'arm64', 'image.yaml')).toEqual([['main']]);
  });
});
