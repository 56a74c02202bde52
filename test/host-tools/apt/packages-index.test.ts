import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { PackagesIndex } from '../../../host-tools/apt/packages-index.js';
import { packagesText, stanza } from '../../helpers/packages-text.js';

const SHA = 'a'.repeat(64);

describe('PackagesIndex.fromText', () => {
  it('reads every field a record carries', () => {
    const text = [
      'Package: libfoo1',
      'Source: foo (1.2-3)',
      'Version: 1:1.2-3+b1',
      'Installed-Size: 42',
      'Maintainer: Someone <someone@example.org>',
      'Architecture: arm64',
      'Multi-Arch: same',
      'Essential: yes',
      'Priority: important',
      'Section: libs',
      'Replaces: libfoo0 (<< 1.0)',
      'Provides: libfoo',
      'Pre-Depends: dpkg (>= 1.19)',
      'Depends: libc6 (>= 2.34), zlib1g',
      'Recommends: foo-data',
      'Suggests: foo-doc',
      'Breaks: old-foo',
      'Conflicts: libfoo0',
      'Description: foo library',
      ' A library.',
      'Filename: pool/main/f/foo/libfoo1_1.2-3+b1_arm64.deb',
      'Size: 12345',
      `SHA256: ${SHA}`,
      '',
    ].join('\n');
    const [rec] = PackagesIndex.fromText(text).records('libfoo1');
    expect(rec).toEqual({
      name: 'libfoo1',
      version: '1:1.2-3+b1',
      architecture: 'arm64',
      multiArch: 'same',
      essential: true,
      priority: 'important',
      section: 'libs',
      source: 'foo (1.2-3)',
      depends: 'libc6 (>= 2.34), zlib1g',
      preDepends: 'dpkg (>= 1.19)',
      recommends: 'foo-data',
      provides: 'libfoo',
      conflicts: 'libfoo0',
      breaks: 'old-foo',
      replaces: 'libfoo0 (<< 1.0)',
      filename: 'pool/main/f/foo/libfoo1_1.2-3+b1_arm64.deb',
      size: 12345,
      sha256: SHA,
    });
  });

  it('leaves absent optional fields undefined', () => {
    const [rec] = PackagesIndex.fromText(stanza({ name: 'tiny' })).records('tiny');
    expect(rec).toMatchObject({ multiArch: undefined, essential: false, priority: undefined, depends: undefined, provides: undefined });
  });

  it('keeps several versions of one name, in file order', () => {
    const idx = PackagesIndex.fromText(
      packagesText([
        { name: 'b', version: '1.0' },
        { name: 'other' },
        { name: 'b', version: '2.0' },
        { name: 'b', version: '1.5', arch: 'arm64' },
      ]),
    );
    expect(idx.records('b').map((r) => `${r.version}/${r.architecture}`)).toEqual(['1.0/amd64', '2.0/amd64', '1.5/arm64']);
    expect(idx.names()).toEqual(['b', 'other']);
    expect(idx.data.stanzas.b).toHaveLength(3);
  });

  it('indexes Provides, also spread over continuation lines, without versions or qualifiers', () => {
    const idx = PackagesIndex.fromText(
      packagesText([
        { name: 'p1', provides: 'virt-a,\n virt-b (= 1.0),\nvirt-c' },
        { name: 'p2', provides: 'virt-b, virt-e(=2)' },
        { name: 'p3', extra: { Provides: '' } },
      ]) + 'Package: p4\nVersion: 1\nArchitecture: all\nProvides:\n virt-d,\n virt-a\nFilename: x\nSize: 1\nSHA256: 0\n',
    );
    expect(idx.providersOf('virt-a')).toEqual(['p1', 'p4']);
    expect(idx.providersOf('virt-b')).toEqual(['p1', 'p2']);
    expect(idx.providersOf('virt-c')).toEqual(['p1']);
    expect(idx.providersOf('virt-d')).toEqual(['p4']);
    expect(idx.providersOf('virt-e')).toEqual(['p2']);
    expect(idx.providersOf('nothing')).toEqual([]);
    // The record keeps the whole field.
    expect(idx.records('p1')[0]!.provides!.replace(/\s+/g, ' ')).toBe('virt-a, virt-b (= 1.0), virt-c');
  });

  it('does not treat continuation lines of other fields as Provides', () => {
    const idx = PackagesIndex.fromText(packagesText([{ name: 'p', provides: 'virt', depends: 'a,\nb, c', extra: { Notes: 'x,\ny, not-virt' } }]));
    expect(idx.providersOf('virt')).toEqual(['p']);
    expect(idx.providersOf('c')).toEqual([]);
    expect(idx.providersOf('not-virt')).toEqual([]);
  });

  it('lists Essential: yes and Priority: required names once each', () => {
    const idx = PackagesIndex.fromText(
      packagesText([
        { name: 'dash', essential: true, priority: 'required' },
        { name: 'dash', version: '2.0', essential: true, priority: 'required' },
        { name: 'mawk', priority: 'required' },
        { name: 'vim', priority: 'optional' },
        { name: 'not-ess', extra: { Essential: 'no' } },
        { name: 'req-ish', priority: 'requiredish' },
      ]),
    );
    expect(idx.data.essential).toEqual(['dash']);
    expect(idx.data.required).toEqual(['dash', 'mawk']);
  });

  it('reads a last stanza without a trailing newline', () => {
    const text = packagesText([{ name: 'a' }]) + '\n' + stanza({ name: 'z', version: '2.0', provides: 'virt' });
    expect(text.endsWith('\n')).toBe(false);
    const idx = PackagesIndex.fromText(text);
    expect(idx.records('z')[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(idx.records('z')[0]!.version).toBe('2.0');
    expect(idx.providersOf('virt')).toEqual(['z']);
    expect(idx.records('a')[0]!.name).toBe('a');
  });

  it('tolerates extra blank lines and CRLF line ends', () => {
    const text = '\n\n' + packagesText([{ name: 'a', priority: 'required' }, { name: 'b', provides: 'virt' }]).replace(/\n\n/g, '\n\n\n\n');
    const idx = PackagesIndex.fromText(text);
    expect(idx.names()).toEqual(['a', 'b']);
    const crlf = PackagesIndex.fromText(packagesText([{ name: 'a', priority: 'required' }, { name: 'b', version: '2.0', provides: 'virt' }]).replace(/\n/g, '\r\n'));
    expect(crlf.names()).toEqual(['a', 'b']);
    expect(crlf.data.required).toEqual(['a']);
    expect(crlf.providersOf('virt')).toEqual(['b']);
    expect(crlf.records('b')[0]!.version).toBe('2.0');
    expect(crlf.records('a')[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('indexes an empty text as empty', () => {
    const idx = PackagesIndex.fromText('');
    expect(idx.names()).toEqual([]);
    expect(idx.records('a')).toEqual([]);
  });

  it('does not confuse names with object properties', () => {
    const idx = PackagesIndex.fromText(packagesText([{ name: 'a' }]));
    expect(idx.records('constructor')).toEqual([]);
    expect(idx.providersOf('toString')).toEqual([]);
    expect(idx.has('__proto__')).toBe(false);
    expect(idx.has('a')).toBe(true);
  });

  it('skips a stanza without a Package field', () => {
    const idx = PackagesIndex.fromText('Version: 1.0\nArchitecture: all\n\n' + packagesText([{ name: 'a' }]));
    expect(idx.names()).toEqual(['a']);
  });

  it('raises ERR_OTA_INDEX for a stanza missing a required field, when it is read', () => {
    const idx = PackagesIndex.fromText('Package: broken\nVersion: 1.0\nArchitecture: amd64\nSize: 1\nSHA256: 0\n');
    expect(idx.names()).toEqual(['broken']);
    expect(() => idx.records('broken')).toThrow(OtaError);
    expect(() => idx.records('broken')).toThrow(/no Filename field/);
  });

  it('builds the same index from the cached data', () => {
    const text = packagesText([{ name: 'a', provides: 'virt' }, { name: 'b', essential: true }]);
    const fresh = PackagesIndex.fromText(text);
    const cached = PackagesIndex.fromCache(text, JSON.parse(JSON.stringify(fresh.data)));
    expect(cached.records('a')).toEqual(fresh.records('a'));
    expect(cached.providersOf('virt')).toEqual(['a']);
    expect(cached.providersOf('constructor')).toEqual([]);
    expect(cached.data.essential).toEqual(['b']);
  });

  it('returns the raw stanza at an offset', () => {
    const text = packagesText([{ name: 'a' }, { name: 'b' }]);
    const idx = PackagesIndex.fromText(text);
    const raw = idx.stanzaAt(idx.data.stanzas.b![0]!);
    expect(raw.startsWith('Package: b\n')).toBe(true);
    expect(raw.includes('\n\n')).toBe(false);
  });
});
