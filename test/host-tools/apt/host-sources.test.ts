import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import {
  defaultTrustedKeyrings,
  parseDeb822Sources,
  parseOneLineSources,
  readHostSources,
} from '../../../host-tools/apt/host-sources.js';

// Made-up hosts only: fixtures never name a real mirror.
const M = 'http://mirror.example/debian';
const S = 'http://security.mirror.example/debian-security';

function caught(fn: () => unknown): OtaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).code).toBe('ERR_OTA_SOURCES');
    return e as OtaError;
  }
  throw new Error('expected an OtaError');
}

async function caughtAsync(p: Promise<unknown>): Promise<OtaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).code).toBe('ERR_OTA_SOURCES');
    return e as OtaError;
  }
  throw new Error('expected an OtaError');
}

describe('parseDeb822Sources', () => {
  it('multiplies two URIs by two suites, URIs outermost, with origin at the stanza', () => {
    const text = [
      '# header comment',
      '',
      'Types: deb',
      `URIs: ${M}/ ${S}`,
      'Suites: bookworm bookworm-updates',
      'Components: main contrib',
      'Architectures: amd64 arm64',
      'Signed-By: /usr/share/keyrings/example.gpg',
    ].join('\n');
    const got = parseDeb822Sources(text, 'a.sources');
    expect(got.map((s) => `${s.uri} ${s.suite}`)).toEqual([
      `${M} bookworm`,
      `${M} bookworm-updates`,
      `${S} bookworm`,
      `${S} bookworm-updates`,
    ]);
    for (const s of got) {
      expect(s.components).toEqual(['main', 'contrib']);
      expect(s.architectures).toEqual(['amd64', 'arm64']);
      expect(s.signedBy).toEqual({ kind: 'files', paths: ['/usr/share/keyrings/example.gpg'] });
      expect(s.origin).toBe('a.sources:3');
    }
  });

  it('takes case-insensitive field names, comments between fields and multi-line values', () => {
    const text = [
      'types: deb',
      '# a comment between fields',
      `uRIs: ${M}`,
      'SUITES:',
      ' bookworm',
      '# a comment inside a value',
      '\tbookworm-backports',
      'components: main',
      '',
      '',
      'Types: deb',
      `URIs: ${M}`,
      'Suites: trixie',
      'Components: main',
    ].join('\n');
    const got = parseDeb822Sources(text, 'b.sources');
    expect(got.map((s) => [s.suite, s.origin])).toEqual([
      ['bookworm', 'b.sources:1'],
      ['bookworm-backports', 'b.sources:1'],
      ['trixie', 'b.sources:11'],
    ]);
    expect(got[0]!.signedBy).toEqual({ kind: 'default' });
    expect(got[0]!).not.toHaveProperty('architectures');
  });

  it('reconstructs an inline Signed-By key, turning " ." lines into empty lines', () => {
    const text = [
      'Types: deb',
      `URIs: ${M}`,
      'Suites: stable',
      'Components: main',
      'Signed-By:',
      ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
      ' .',
      ' mDMEYCQjIxYJKwYBBAHaRw8BAQdAD/P5Nvvnvk66SxBBHDbhRml9ORg1WV5CvzKY',
      ' 3bHcln8DMpIJVXht78sL',
      ' =IE0r',
      ' -----END PGP PUBLIC KEY BLOCK-----',
      'Architectures: amd64',
    ].join('\n');
    const [s] = parseDeb822Sources(text, 'k.sources');
    expect(s!.signedBy).toEqual({
      kind: 'inline',
      armored: [
        '-----BEGIN PGP PUBLIC KEY BLOCK-----',
        '',
        'mDMEYCQjIxYJKwYBBAHaRw8BAQdAD/P5Nvvnvk66SxBBHDbhRml9ORg1WV5CvzKY',
        '3bHcln8DMpIJVXht78sL',
        '=IE0r',
        '-----END PGP PUBLIC KEY BLOCK-----',
        '',
      ].join('\n'),
    });
    // The field after the key is still read: the key did not swallow it.
    expect(s!.architectures).toEqual(['amd64']);
  });

  it('rejects an inline key without its END line', () => {
    const text = `Types: deb\nURIs: ${M}\nSuites: s\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n`;
    expect(caught(() => parseDeb822Sources(text, 'k.sources')).message).toMatch(/inline Signed-By key.*\(k\.sources:5\)/);
  });

  it('skips Enabled: no stanzas and keeps Enabled: yes', () => {
    const text = [
      'Types: deb',
      `URIs: ${M}`,
      'Suites: off-suite',
      'Components: main',
      'Enabled: no',
      '',
      'Types: deb',
      `URIs: ${M}`,
      'Suites: also-off',
      'Components: main',
      'enabled: False',
      '',
      'Types: deb',
      `URIs: ${M}`,
      'Suites: on-suite',
      'Components: main',
      'Enabled: yes',
    ].join('\n');
    expect(parseDeb822Sources(text, 'e.sources').map((s) => s.suite)).toEqual(['on-suite']);
  });

  it('keeps deb from "Types: deb deb-src" and skips deb-src-only stanzas', () => {
    const text = [
      'Types: deb-src',
      `URIs: ${M}`,
      'Suites: src-only',
      'Components: main',
      '',
      'Types: deb deb-src',
      `URIs: ${M}`,
      'Suites: both',
      'Components: main',
    ].join('\n');
    expect(parseDeb822Sources(text, 't.sources').map((s) => s.suite)).toEqual(['both']);
  });

  it('reads a flat repository: suite ends with /, no components', () => {
    const text = `Types: deb\nURIs: ${M}/flat/\nSuites: ./ $(ARCH)/\n`;
    const got = parseDeb822Sources(text, 'f.sources');
    // $(ARCH) is left for the caller, who knows the image's (not the host's) architecture.
    expect(got.map((s) => [s.uri, s.suite, s.components])).toEqual([
      [`${M}/flat`, './', []],
      [`${M}/flat`, '$(ARCH)/', []],
    ]);
  });

  it('maps Signed-By fingerprints: kept paths, default keyrings when only fingerprints', () => {
    const fpr = 'A7236886F3CCCAAD148A27F80E98404D386FA1D9';
    const base = `Types: deb\nURIs: ${M}\nSuites: s\nComponents: main\n`;
    expect(parseDeb822Sources(`${base}Signed-By: ${fpr}\n`, 'x.sources')[0]!.signedBy).toEqual({ kind: 'default' });
    expect(parseDeb822Sources(`${base}Signed-By: /k/a.gpg ${fpr}!\n /k/b.asc\n`, 'x.sources')[0]!.signedBy).toEqual({
      kind: 'files',
      paths: ['/k/a.gpg', '/k/b.asc'],
    });
    expect(caught(() => parseDeb822Sources(`${base}Signed-By: keyrings/rel.gpg\n`, 'x.sources')).message).toMatch(
      /keyrings\/rel\.gpg.*\(x\.sources:5\)/,
    );
  });

  it('reads CRLF files', () => {
    const got = parseDeb822Sources(`Types: deb\r\nURIs: ${M}\r\nSuites: s\r\nComponents: main\r\n`, 'w.sources');
    expect(got).toEqual([{ uri: M, suite: 's', components: ['main'], signedBy: { kind: 'default' }, origin: 'w.sources:1' }]);
  });

  it.each([
    ['missing URIs', `Types: deb\nSuites: s\nComponents: main\n`, /no URIs \(m\.sources:3\)/],
    ['missing Suites', `Types: deb\nURIs: ${M}\nComponents: main\n`, /no Suites \(m\.sources:3\)/],
    ['no components for a non-flat suite', `Types: deb\nURIs: ${M}\nSuites: bookworm\n`, /"bookworm" needs at least one component.*\(m\.sources:3\)/],
    ['components for a flat suite', `Types: deb\nURIs: ${M}\nSuites: ./\nComponents: main\n`, /flat suite.*\(m\.sources:6\)/],
    ['missing Types', `URIs: ${M}\nSuites: s\nComponents: main\n`, /no Types field \(m\.sources:3\)/],
    ['unknown type', `Types: rpm\nURIs: ${M}\nSuites: s\nComponents: main\n`, /unknown type "rpm".*\(m\.sources:3\)/],
    ['a URI that is not one', `Types: deb\nURIs: mirror.example\nSuites: s\nComponents: main\n`, /not a URI.*\(m\.sources:4\)/],
    ['a continuation line with no field', ` main\n`, /continuation line.*\(m\.sources:3\)/],
    ['a line without a colon', `Types deb\n`, /neither.*\(m\.sources:3\)/],
    ['a field given twice', `Types: deb\nTypes: deb\n`, /twice.*\(m\.sources:4\)/],
  ])('names file:line for %s', (_name, body, pattern) => {
    // Two lines of preamble so the reported line is clearly the file's, not the stanza's.
    const text = `# preamble\n\n${body}`;
    const err = caught(() => parseDeb822Sources(text, 'm.sources'));
    expect(err.message).toMatch(pattern);
    expect(err.hint).toMatch(/sources\.list\(5\)/);
  });
});

describe('parseOneLineSources', () => {
  it('reads options, comments, skips deb-src and ignores trusted=', () => {
    const text = [
      '# a comment line',
      '',
      `deb [ arch=amd64,arm64 signed-by=/k/a.gpg,/k/b.gpg trusted=yes ] ${M}/ bookworm main contrib # trailing comment`,
      `deb-src ${M} bookworm main`,
      `  deb [arch=armhf] ${S} bookworm-security main`,
      `#deb ${M} commented-out main`,
      `deb [arch+=i386 lang=en] ${M} trixie main`,
      '\tdeb\t' + M + '\tsid\tmain',
    ].join('\n');
    const got = parseOneLineSources(text, 'sources.list');
    expect(got).toEqual([
      {
        uri: M,
        suite: 'bookworm',
        components: ['main', 'contrib'],
        signedBy: { kind: 'files', paths: ['/k/a.gpg', '/k/b.gpg'] },
        architectures: ['amd64', 'arm64'],
        origin: 'sources.list:3',
      },
      { uri: S, suite: 'bookworm-security', components: ['main'], signedBy: { kind: 'default' }, architectures: ['armhf'], origin: 'sources.list:5' },
      // arch+= modifies a default we do not know: no architectures rather than a wrong list.
      { uri: M, suite: 'trixie', components: ['main'], signedBy: { kind: 'default' }, origin: 'sources.list:7' },
      { uri: M, suite: 'sid', components: ['main'], signedBy: { kind: 'default' }, origin: 'sources.list:8' },
    ]);
    // trusted=yes leaves no trace: we never lock from an unverified archive.
    for (const s of got) expect(JSON.stringify(s)).not.toMatch(/trusted/i);
  });

  it('reads a flat repository and a cdrom label with spaces and #', () => {
    const text = [`deb ${M}/flat ./`, 'deb cdrom:[Example Disc #1 (2025)]/ bookworm main'].join('\n');
    const got = parseOneLineSources(text, 'l.list');
    expect(got.map((s) => [s.uri, s.suite, s.components])).toEqual([
      [`${M}/flat`, './', []],
      ['cdrom:[Example Disc #1 (2025)]', 'bookworm', ['main']],
    ]);
  });

  it.each([
    ['no URI', 'deb', /no URI \(l\.list:2\)/],
    ['no suite', `deb ${M}`, /no suite \(l\.list:2\)/],
    ['no component for a non-flat suite', `deb ${M} bookworm`, /"bookworm" needs at least one component.*\(l\.list:2\)/],
    ['components for a flat suite', `deb ${M} ./ main`, /flat suite.*\(l\.list:2\)/],
    ['an unclosed option list', `deb [arch=amd64 ${M} bookworm main`, /not closed.*\(l\.list:2\)/],
    ['an option without =', `deb [arch] ${M} bookworm main`, /"arch" is not name=value \(l\.list:2\)/],
    ['an unknown type', `dep ${M} bookworm main`, /unknown type "dep".*\(l\.list:2\)/],
    ['a missing URI', 'deb bookworm main', /"bookworm" is not a URI.*\(l\.list:2\)/],
    ['a relative signed-by', `deb [signed-by=k.gpg] ${M} bookworm main`, /"k\.gpg".*\(l\.list:2\)/],
  ])('names file:line for %s', (_name, line, pattern) => {
    expect(caught(() => parseOneLineSources(`# first\n${line}\n`, 'l.list')).message).toMatch(pattern);
  });
});

describe('readHostSources / defaultTrustedKeyrings on fixture trees', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'host-sources-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function put(rel: string, text: string): Promise<void> {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }

  const stanza = (suite: string) => `Types: deb\nURIs: ${M}\nSuites: ${suite}\nComponents: main\n`;

  it('reads sources.list first, then *.list and *.sources in sorted order, ignoring other names', async () => {
    await put('sources.list', `# main list\ndeb ${M} from-main main\n`);
    await put('sources.list.d/b.sources', `# c\n${stanza('from-b')}`);
    await put('sources.list.d/a.list', `deb ${M} from-a main\n`);
    await put('sources.list.d/c_x-1.0.list', `deb ${M} from-c main\n`);
    // All of these are files apt leaves alone.
    await put('sources.list.d/z.sources.disabled-by-farm', stanza('ignored-farm'));
    await put('sources.list.d/z.list.disabled-by-farm', `deb ${M} ignored-farm-list main\n`);
    await put('sources.list.d/a.list.save', `deb ${M} ignored-save main\n`);
    await put('sources.list.d/a.list.distUpgrade', `deb ${M} ignored-dist main\n`);
    await put('sources.list.d/a.sources~', stanza('ignored-tilde'));
    await put('sources.list.d/a.list.dpkg-old', `deb ${M} ignored-dpkg main\n`);
    await put('sources.list.d/my repo.list', `deb ${M} ignored-space main\n`);
    await put('sources.list.d/.hidden.list', `deb ${M} ignored-hidden main\n`);
    await put('sources.list.d/readme.txt', 'not a source\n');
    await mkdir(join(dir, 'sources.list.d/dir.list'));
    await symlink(join(dir, 'nowhere'), join(dir, 'sources.list.d/dangling.list'));

    const got = await readHostSources(dir);
    expect(got.map((s) => [s.suite, s.origin])).toEqual([
      ['from-main', `${join(dir, 'sources.list')}:2`],
      ['from-a', `${join(dir, 'sources.list.d/a.list')}:1`],
      ['from-b', `${join(dir, 'sources.list.d/b.sources')}:2`],
      ['from-c', `${join(dir, 'sources.list.d/c_x-1.0.list')}:1`],
    ]);
  });

  it('works with only sources.list.d, and follows symlinked files', async () => {
    await put('elsewhere/real.sources', stanza('linked'));
    await mkdir(join(dir, 'etc/sources.list.d'), { recursive: true });
    await symlink(join(dir, 'elsewhere/real.sources'), join(dir, 'etc/sources.list.d/link.sources'));
    const got = await readHostSources(join(dir, 'etc'));
    expect(got.map((s) => s.suite)).toEqual(['linked']);
  });

  it('throws with a hint when there are no sources at all', async () => {
    await put('sources.list', '# nothing here\n');
    await put('sources.list.d/off.sources', `${stanza('off')}Enabled: no\n`);
    await put('sources.list.d/src.list', `deb-src ${M} bookworm main\n`);
    const err = await caughtAsync(readHostSources(dir));
    expect(err.message).toMatch(/no enabled deb sources/);
    expect(err.hint).toMatch(/configure apt/);
    expect(err.hint).toMatch(/explicit uri/);
    expect(err.details.join('\n')).toContain('off.sources');
  });

  it('throws with a hint when the directory does not exist', async () => {
    const err = await caughtAsync(readHostSources(join(dir, 'absent')));
    expect(err.hint).toMatch(/configure apt/);
  });

  it('passes a malformed entry through with its full path and line', async () => {
    await put('sources.list.d/ok.list', `deb ${M} fine main\n`);
    await put('sources.list.d/bad.sources', `${stanza('fine')}\n\nTypes: deb\nSuites: s\nComponents: main\n`);
    const err = await caughtAsync(readHostSources(dir));
    expect(err.message).toContain(`(${join(dir, 'sources.list.d/bad.sources')}:7)`);
  });

  it('lists the default keyrings: trusted.gpg, then trusted.gpg.d/*.gpg and *.asc sorted', async () => {
    await put('trusted.gpg', 'k');
    await put('trusted.gpg.d/zz.asc', 'k');
    await put('trusted.gpg.d/aa.gpg', 'k');
    await put('trusted.gpg.d/mm.asc', 'k');
    await put('trusted.gpg.d/empty.gpg', '');
    await put('trusted.gpg.d/notes.txt', 'k');
    await put('trusted.gpg.d/old.gpg~', 'k');
    await put('trusted.gpg.d/old.gpg.bak', 'k');
    await mkdir(join(dir, 'trusted.gpg.d/sub.gpg'));
    expect(await defaultTrustedKeyrings(dir)).toEqual([
      join(dir, 'trusted.gpg'),
      join(dir, 'trusted.gpg.d/aa.gpg'),
      join(dir, 'trusted.gpg.d/mm.asc'),
      join(dir, 'trusted.gpg.d/zz.asc'),
    ]);
  });

  it('lists no trusted.gpg when absent or empty, and nothing without trusted.gpg.d', async () => {
    expect(await defaultTrustedKeyrings(dir)).toEqual([]);
    await put('trusted.gpg', '');
    await put('trusted.gpg.d/a.asc', 'k');
    expect(await defaultTrustedKeyrings(dir)).toEqual([join(dir, 'trusted.gpg.d/a.asc')]);
  });
});

describe('this machine', () => {
  // Reads files only (no apt, no network); skipped where there is no apt at all.
  it.skipIf(!existsSync('/etc/apt'))('reads the real /etc/apt', async () => {
    const got = await readHostSources();
    expect(got.length).toBeGreaterThan(0);
    for (const s of got) {
      expect(s.uri).not.toBe('');
      expect(s.suite).not.toBe('');
      expect(s.origin).toMatch(/^\/etc\/apt\/.+:\d+$/);
    }
  });
});
