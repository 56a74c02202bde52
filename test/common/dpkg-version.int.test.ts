import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { compareVersions, parseVersion } from '../../common/dpkg-version.js';

// Checks our ordering against the real dpkg on thousands of real versions from the host's apt
// index (`apt-cache dumpavail`). dpkg is the reference: if we disagree with it, apt would disagree
// with our lockfiles.
//
// Spawning dpkg once per pair from node costs ~5 ms each; instead ONE bash process gets a script on
// stdin whose here-document holds the pairs, runs `dpkg --compare-versions` in a loop (~1.5 ms per
// fork+exec) and prints one exit code per line. Each pair is asked as the ONE relation our code
// predicts (lt, eq or gt), so a pair costs one dpkg run; dpkg's true answer is fetched only for the
// pairs that fail, for the message.

const MIN_VERSIONS = 1000;
const NEIGHBOUR_PAIRS = 4000;
const SOURCE_PAIRS = 2000;
const RANDOM_PAIRS = 4000;
const TWEAKED_VERSIONS = 1500;
const SEED = 0x0ddba11;

interface Stanza {
  name: string;
  version: string;
  /** The source package's version when the Source field gives one (binNMUs, renamed binaries). */
  sourceVersion?: string;
}

function parseDumpavail(text: string): Stanza[] {
  const out: Stanza[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const name = /^Package:\s*(\S+)/m.exec(para)?.[1];
    const version = /^Version:\s*(\S+)/m.exec(para)?.[1];
    if (!name || !version) continue;
    const sourceVersion = /^Source:\s*\S+\s*\(([^)\s]+)\)/m.exec(para)?.[1];
    out.push(sourceVersion ? { name, version, sourceVersion } : { name, version });
  }
  return out;
}

/** mulberry32: a tiny seeded PRNG, so the "random" pairs are the same on every run. */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every `step`-th index so that `want` samples spread over the whole (name-sorted) list. */
function strided<T>(items: T[], want: number): T[] {
  const step = Math.max(1, Math.floor(items.length / want));
  const out: T[] = [];
  for (let i = 0; i < items.length && out.length < want; i += step) out.push(items[i]!);
  return out;
}

type Op = 'lt' | 'eq' | 'gt';
const opOf = (c: number): Op => (c < 0 ? 'lt' : c > 0 ? 'gt' : 'eq');

/** Runs `lines` through one bash whose loop runs `command` per line and prints one result per line. */
async function batch(description: string, loopBody: string, lines: string[]): Promise<string[]> {
  const marker = 'OTA_VERSION_PAIRS_END';
  // Versions contain no blanks (parseVersion refuses them), so `read` splits each line cleanly;
  // the quoted here-document marker turns off all expansion of its contents.
  const script = `set -u\nwhile read -r x y z; do\n${loopBody}\ndone <<'${marker}'\n${lines.join('\n')}\n${marker}\n`;
  const { stdout } = await run(description, ['bash', '-s'], { input: script });
  const out = stdout.split('\n');
  if (out[out.length - 1] === '') out.pop();
  if (out.length !== lines.length) {
    throw new Error(`${description}: bash printed ${out.length} results for ${lines.length} lines`);
  }
  return out;
}

describe('compareVersions against dpkg on the host index', () => {
  let stanzas: Stanza[] = [];
  let versions: string[] = [];

  beforeAll(async () => {
    const { stdout } = await run('list available packages', ['apt-cache', 'dumpavail']);
    stanzas = parseDumpavail(stdout).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    versions = [...new Set(stanzas.map((s) => s.version))].sort();
  });

  it(`finds at least ${MIN_VERSIONS} real versions, all valid`, () => {
    if (versions.length < MIN_VERSIONS) {
      throw new Error(
        `apt-cache dumpavail gave only ${versions.length} distinct versions (need ${MIN_VERSIONS}): ` +
          'the host apt index is empty or tiny; run `apt-get update` (as root) and try again',
      );
    }
    const bad = versions.filter((v) => {
      try {
        parseVersion(v);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad, 'real archive versions that parseVersion rejects').toEqual([]);
  });

  it('orders thousands of real version pairs exactly as dpkg --compare-versions', async () => {
    expect(versions.length).toBeGreaterThanOrEqual(MIN_VERSIONS);
    const pairs = new Map<string, [string, string, string]>(); // key -> [a, b, group]
    const add = (a: string, b: string, group: string): void => {
      const key = `${a} ${b}`;
      if (!pairs.has(key)) pairs.set(key, [a, b, group]);
    };

    // 1. Neighbours in name order: related packages (libfoo1, libfoo-dev, foo) with equal or close
    //    versions, and unrelated ones across family boundaries.
    const neighbourStarts = strided(
      stanzas.slice(0, -1).map((_, i) => i),
      NEIGHBOUR_PAIRS,
    );
    for (const i of neighbourStarts) add(stanzas[i]!.version, stanzas[i + 1]!.version, 'neighbours');

    // 2. Binary version against its source version: binNMUs (1.2-3+b1 vs 1.2-3) and the like.
    //    dumpavail lists one version per package, so this stands in for "the same package in
    //    another suite", which differs in the same kind of way.
    const withSource = stanzas.filter((s) => s.sourceVersion !== undefined);
    for (const s of strided(withSource, SOURCE_PAIRS)) add(s.version, s.sourceVersion!, 'binary-vs-source');

    // 3. Seeded pseudo-random pairs: epochs against none, long digit runs against letters, etc.
    const rand = mulberry32(SEED);
    const pick = (): string => versions[Math.floor(rand() * versions.length)]!;
    for (let n = 0; n < RANDOM_PAIRS; n++) add(pick(), pick(), 'random');

    // 4. Each version against a tweak of itself, the comparisons that sit right at the boundary.
    const tweaked = strided(versions, TWEAKED_VERSIONS);
    for (const v of tweaked) {
      add(v, `${v}~`, 'tweak');
      add(`${v}+1`, v, 'tweak');
      add(v, `${v}.0`, 'tweak');
    }
    for (const v of tweaked.slice(0, 500)) add(v, v, 'identity');

    // 5. Hand-picked corner cases, so they are checked against the real dpkg too.
    const corners: Array<[string, string]> = [
      ['1:1.0', '2.0'], ['1.0~rc1', '1.0'], ['1.0~~', '1.0~'], ['1.0~~a', '1.0~'], ['1.0-1', '1.0'],
      ['1.0', '1.0-0'], ['1.00000000000000000000001', '1.1'], ['1.00000000000000000000001', '1.00000000000000000000002'],
      ['9007199254740992', '9007199254740993'], ['1.0a', '1.0+'], ['1.0a', '1.0.'], ['1.0+', '1.0.'],
      ['1.0Z', '1.0a'], ['1.0', '1.0a'], ['1.0+-1', '1.0--1'], ['1.2-3-9', '1.2.3-1'], ['0:1.0', '1.0'],
      ['9:1.0', '10:1.0'], ['+1:1.0', '1:1.0'], ['-0:1.0', '1.0'], ['1:1:1', '1:1.1'], ['2.36-9~bpo11+1', '2.36-9'],
    ];
    for (const [a, b] of corners) add(a, b, 'corner');

    const list = [...pairs.values()];
    const expected = list.map(([a, b]) => opOf(compareVersions(a, b)));
    const started = Date.now();
    const results = await batch(
      'dpkg --compare-versions',
      // x=op y=a z=b; exit 0 true, 1 false, 2 bad syntax
      'dpkg --compare-versions -- "$y" "$x" "$z" 2>/dev/null; echo $?',
      list.map(([a, b], i) => `${expected[i]} ${a} ${b}`),
    );
    const failed = list.map((p, i) => ({ p, ours: expected[i]! })).filter((_, i) => results[i] !== '0');

    const groups = new Map<string, number>();
    for (const [, , g] of list) groups.set(g, (groups.get(g) ?? 0) + 1);
    console.log(
      `checked ${list.length} version pairs against dpkg in ${Date.now() - started} ms ` +
        `(${[...groups].map(([g, n]) => `${g} ${n}`).join(', ')}) from ${versions.length} distinct versions; ` +
        `${failed.length} mismatches`,
    );

    let details: string[] = [];
    if (failed.length > 0) {
      const shown = failed.slice(0, 50);
      const truth = await batch(
        'dpkg --compare-versions (mismatches)',
        'if dpkg --compare-versions -- "$x" lt "$y"; then echo lt; elif dpkg --compare-versions -- "$x" eq "$y"; then echo eq; else echo gt; fi',
        shown.map(({ p: [a, b] }) => `${a} ${b}`),
      );
      details = shown.map(({ p: [a, b, g], ours }, i) => `${g}: ${a} vs ${b}: ours ${ours}, dpkg ${truth[i]}`);
    }
    expect(list.length).toBeGreaterThanOrEqual(5000);
    expect(details, `${failed.length} pairs ordered differently from dpkg`).toEqual([]);
  });

  it('accepts and rejects the same odd versions as dpkg --validate-version', async () => {
    const odd = [
      '0', '1:1:1', '1.0-1-2', '1.0~-1~', '+1:1.0', '-0:1.0', '-1:1.0', '00000000000000000001:1', '2147483647:1',
      '2147483648:1', ':1.0', 'a:1.0', '1a:1.0', '+:1', '--1:1', '1:', '1.0-', '-1', '1:-1', 'a1', '~1', '1_0',
      '1.0-a:b', '1.0-1_2', '1:1.0-1:2', '1.0é', '1.0/2', '1.0-1.',
    ];
    const ours = odd.map((v) => {
      try {
        parseVersion(v);
        return '0';
      } catch {
        return '1';
      }
    });
    const dpkg = await batch(
      'dpkg --validate-version',
      'if dpkg --validate-version -- "$x" 2>/dev/null; then echo 0; else echo 1; fi',
      odd,
    );
    const diff = odd.flatMap((v, i) => (ours[i] === dpkg[i] ? [] : [`${v}: ours ${ours[i]}, dpkg ${dpkg[i]} (0 = valid)`]));
    expect(diff).toEqual([]);
  });
});
