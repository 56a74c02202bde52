import { loadKoffi } from './ffi/load-koffi.js';

/**
 * libostree's version, asked of the library itself and loading nothing else: `ota --version`
 * runs this without the rest of node-ostree (GLib, GIO, libarchive bindings and their
 * declarations). libostree exports no version string, only `ostree_check_version(year, release)`
 * ("is the library at least this?"), so the version is found by searching with it. The features
 * list (OSTREE_FEATURES) is compiled into the `ostree` program, not into the library.
 *
 * @example
 * libostreeVersion(); // { version: '2022.7', year: 2022, release: 7 }
 */
export interface LibostreeVersion {
  version: string;
  year: number;
  release: number;
}

/** The library's file name, as the dynamic linker finds it. */
export const LIBOSTREE = 'libostree-1.so.1';

export function libostreeVersion(library: string = LIBOSTREE): LibostreeVersion {
  // koffi too is loaded only now, as node-ostree/ffi/libs.ts does, so importing this costs nothing.
  const koffi = loadKoffi();
  const lib = koffi.load(library);
  const atLeast = lib.func('int ostree_check_version(unsigned int year, unsigned int release)') as (y: number, r: number) => number;
  // libostree's versions are YEAR.RELEASE since 2017.1, with at most a few dozen releases a year.
  const year = lastTrue(2017, 2100, (y) => atLeast(y, 0) !== 0);
  const release = lastTrue(0, 99, (r) => atLeast(year, r) !== 0);
  return { version: `${year}.${release}`, year, release };
}

/**
 * libostree's version, or why there is none: `ota --version` and `ota-agent --version` answer on
 * a machine without the library too, since that is exactly what they are run to diagnose.
 *
 * @example
 * probeLibostree(); // { version: '2022.7', note: null }
 * probeLibostree('libmissing.so.1'); // { version: null, note: 'libmissing.so.1 could not be loaded: ...' }
 */
export function probeLibostree(library: string = LIBOSTREE): { version: string | null; note: string | null } {
  try {
    return { version: libostreeVersion(library).version, note: null };
  } catch (e) {
    return { version: null, note: `${library} could not be loaded: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** The largest n in [lo, hi] with ok(n), for a predicate that is true up to some point (ok(lo) is assumed). */
function lastTrue(lo: number, hi: number, ok: (n: number) => boolean): number {
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
