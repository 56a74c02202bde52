import { OtaError } from '../../common/errors.js';
import { releaseCarries, type ReleaseInfo } from '../apt/release.js';

/**
 * Which components to read from each suite once a board asks for more than the image's
 * (`firmware.components` in board.yaml: Debian's raspi-firmware lives in `non-free-firmware`,
 * which a host's sources often leave out). Every Debian-style suite of the manifest's sources,
 * `uri: host` ones included, gets each such component its Release offers for the image's
 * architecture; a suite that does not offer it is left as it was, and a component no suite offers
 * is an error. Pure: the caller has fetched the Releases and fetches the Packages this plan names.
 *
 * @example
 * const plan = planBoardComponents(
 *   [{ uri: 'http://…/debian', suite: 'bookworm', components: ['main'], label: 'sources[0] (image.yaml) -> debian.sources:1' }],
 *   [release], // its InRelease, parsed; Components: main contrib non-free-firmware non-free
 *   { name: 'raspberrypi4', components: ['non-free-firmware'] }, 'arm64', 'image.yaml');
 * // [['main', 'non-free-firmware']]
 */
export interface PlannedSuite {
  uri: string;
  suite: string;
  /** The components the manifest (or the host's sources) gives it. */
  components: string[];
  /** Names the suite in errors. */
  label: string;
}

export interface BoardComponents {
  /** The board's name, for errors. */
  name: string;
  components: string[];
}

/** Per suite (same order as `suites`), the components to read: its own, then the board's it offers. */
export function planBoardComponents(
  suites: PlannedSuite[],
  releases: ReleaseInfo[],
  board: BoardComponents,
  arch: string,
  manifestPath: string,
): string[][] {
  if (releases.length !== suites.length) throw new Error(`planBoardComponents: ${suites.length} suites but ${releases.length} releases, this is a bug`);
  const plan = suites.map((s) => [...s.components]);
  for (const component of board.components) {
    let carried = false;
    // One entry per (uri, suite) reads it: the host's sources may list a suite twice with
    // different components, and reading one index for both would only list it twice in the lock.
    const reading = new Set<string>();
    suites.forEach((s, i) => {
      if (plan[i]!.includes(component)) {
        carried = true;
        reading.add(`${s.uri} ${s.suite}`);
      }
    });
    suites.forEach((s, i) => {
      const release = releases[i]!;
      // A flat repository (`./`) has no components to add to.
      if (s.suite.endsWith('/') || !releaseCarries(release, component, arch)) return;
      carried = true;
      const key = `${s.uri} ${s.suite}`;
      if (reading.has(key)) return;
      reading.add(key);
      plan[i]!.push(component);
    });
    if (!carried) throw notCarried(component, board.name, suites, releases, arch, manifestPath);
  }
  return plan;
}

function notCarried(component: string, board: string, suites: PlannedSuite[], releases: ReleaseInfo[], arch: string, manifestPath: string): OtaError {
  const checked = suites.map((s) => `${s.uri} ${s.suite}`);
  return new OtaError(
    'ERR_OTA_SOURCES',
    `board ${board} needs archive component ${component} (firmware.components), but none of the sources of ${manifestPath} carries it for ${arch}; checked: ${checked.join(', ') || '(none)'}`,
    {
      hint: `add a source whose Release lists ${component} (an explicit uri with \`components: [${component}]\`), or add ${component} to the build host's apt sources; if the board's firmware does not need it, drop it from firmware.components in ${board}'s board.yaml`,
      details: suites.map((s, i) => {
        const offers = s.suite.endsWith('/') ? 'a flat repository' : `Components: ${releases[i]!.components.join(' ') || '-'}`;
        return `${s.label}: ${s.uri} ${s.suite} (${offers})`;
      }),
    },
  );
}
