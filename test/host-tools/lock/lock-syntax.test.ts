import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { PackagesIndex } from '../../../host-tools/apt/packages-index.js';
import { MAX_LOCK_PACKAGES } from '../../../host-tools/lock/lock-syntax.js';
import { readLock } from '../../../host-tools/lock/lockfile.js';
import { rejectionOf } from '../../helpers/errors.js';

// Every lockfile field that becomes a path, a URL or a ref is checked before anything uses it:
// one bad field refuses the whole lock (ERR_OTA_LOCKFILE, exit 2), naming the file, the stanza,
// the field and the reason.

const SHA = 'a'.repeat(64);
const URI = 'http://mirror.example/debian';
const HEADER = `Lockfile-Version: 1
Image: relt
Architecture: amd64
Variant: minbase
Recommends: no
Manifest-SHA256: ${SHA}
Requested: less
Sources:
 host ${URI} bookworm main 500 ${SHA} 2025-05-17T09:00:00Z
`;
const stanza = (name: string, sha: string) => `Package: ${name}
Version: 590-2.1~deb12u2
Architecture: amd64
Priority: optional
Section: text
Depends: libc6 (>= 2.34), libtinfo6 (>= 6)
Filename: pool/main/l/${name}/${name}_590-2.1~deb12u2_amd64.deb
Size: 132048
SHA256: ${sha}
Origin-Uri: ${URI}
Origin-Suite: bookworm
Origin-Component: main
`;
const GOOD = `${HEADER}\n${stanza('less', 'b'.repeat(64))}\n${stanza('libc6', 'c'.repeat(64)).replace('Depends: libc6 (>= 2.34), libtinfo6 (>= 6)\n', '')}`;

/** The lock with `field: value` of the stanza of `pkg` (or the header) replaced. */
function edit(pkg: string | 'header', field: string, value: string): string {
  const parts = GOOD.split('\n\n');
  const i = pkg === 'header' ? 0 : parts.findIndex((p) => p.startsWith(`Package: ${pkg}\n`));
  parts[i] = parts[i]!.replace(new RegExp(`^${field}: .*$`, 'm'), `${field}: ${value}`);
  return parts.join('\n\n');
}

function refusal(text: string): OtaError {
  let err: unknown;
  try {
    readLock(text, 'relt.lock');
  } catch (e) {
    err = e;
  }
  if (!(err instanceof OtaError)) throw new Error(`expected an OtaError, got ${String(err)}`);
  expect(err.code).toBe('ERR_OTA_LOCKFILE');
  expect(err.exitCode).toBe(2);
  return err;
}

describe('a lockfile is checked field by field before it is used', () => {
  it('reads the lock ota writes', () => {
    const lock = readLock(GOOD, 'relt.lock');
    expect([...lock.packages.keys()].sort()).toEqual(['less', 'libc6']);
    expect(lock.packages.get('less')!.origin).toMatchObject({ uri: URI, suite: 'bookworm', component: 'main' });
  });

  it('refuses a SHA256 that is a path (it names the cached deb), naming the file, the stanza and the field', () => {
    const e = refusal(edit('less', 'SHA256', '../../../../../../../../tmp/victim/pwned'));
    expect(e.message).toMatch(/^relt\.lock: package stanza 1 \(less\): SHA256 is not 64 lowercase hex digits: "\.\.\/\.\.\//);
    expect(e.hint).toMatch(/ota lock --update/);
    refusal(edit('less', 'SHA256', 'B'.repeat(64)));
    refusal(edit('less', 'SHA256', 'b'.repeat(63)));
  });

  it.each([
    ['../../../../etc/passwd', /no "\.\."/],
    ['/etc/passwd', /not start with "\/"/],
    ['pool//main/x.deb', /empty segments/],
    ['pool/main/x.deb?y=1', /characters a pool path does not/],
    ['pool/main/x deb', /characters a pool path does not/],
  ])('refuses the Filename %s', (value, why) => {
    expect(refusal(edit('less', 'Filename', value)).message).toMatch(why);
  });

  it.each([
    ['Package', 'less/../../x', /Package is not a Debian package name/],
    ['Package', 'Less', /Package is not a Debian package name/],
    ['Version', '590 2', /Version is not a Debian version/],
    ['Version', 'x590', /does not start with digit/],
    ['Architecture', '../amd64', /Architecture is not a Debian architecture name/],
    ['Size', '-1', /Size is not a whole number/],
    ['Size', '1e3', /Size is not a whole number/],
    ['Size', '0', /Size 0 is out of range/],
    ['Size', '999999999999', /out of range/],
    ['Depends', 'libc6 (>= 2.34); rm -rf /', /Depends holds characters/],
    ['Origin-Uri', 'http://evil.example/debian', /origin http:\/\/evil\.example\/debian bookworm is not one of the Sources/],
    ['Origin-Uri', 'gopher://mirror.example/debian', /Origin-Uri is not an http\(s\):\/\/ or file: URL/],
    ['Origin-Component', 'contrib', /Origin-Component contrib is not one the header's Sources line/],
  ])('refuses a stanza whose %s is %s', (field, value, why) => {
    expect(refusal(edit('less', field, value)).message).toMatch(why);
  });

  it.each([
    ['Image', 'relt/../../x', /the header: Image is not an image name/],
    ['Architecture', 'sparc', /the header: Architecture is not one of amd64, arm64, armhf/],
    ['Requested', 'less ../x', /Requested holds "\.\.\/x", which is not a package spec/],
    ['Manifest-SHA256', 'x', /Manifest-SHA256 is not 64 lowercase hex digits/],
  ])('refuses a header whose %s is %s', (field, value, why) => {
    expect(refusal(edit('header', field, value)).message).toMatch(why);
  });

  it('refuses a Board that is a path (it is looked up as boards/<name>), and a board without its hash', () => {
    const withBoard = (name: string) => GOOD.replace('Requested: less\n', `Requested: less\nBoard: ${name}\nBoard-SHA256: ${SHA}\nBoard-Packages: linux-image-amd64\n`);
    expect(readLock(withBoard('x86_64-efi'), 'relt.lock').header.board?.name).toBe('x86_64-efi');
    expect(refusal(withBoard('../../../tmp/evil')).message).toMatch(/Board is not a board name/);
    expect(refusal(withBoard('evil.yaml')).message).toMatch(/Board is not a board name/);
    expect(refusal(GOOD.replace('Requested: less\n', 'Requested: less\nBoard: x86_64-efi\n')).message).toMatch(/names a Board but has no Board-SHA256/);
  });

  it.each([
    [`host ${URI} bookworm main 500 ${SHA}`, /does not have the 7 fields/],
    [`host ${URI} ../../x main 500 ${SHA} -`, /is not a suite name inside the archive/],
    [`host ${URI} bookworm main 5000 ${SHA} -`, /priority "5000" is not a whole number from -1000 to 1000/],
    [`host ${URI} bookworm main 500 ${SHA} yesterday`, /date "yesterday"/],
    [`host file:///srv/mirror?x bookworm main 500 ${SHA} -`, /not an http\(s\):\/\/ or file: URL/],
  ])('refuses the Sources line %s', (line, why) => {
    expect(refusal(GOOD.replace(/^ host .*$/m, ` ${line}`)).message).toMatch(why);
  });

  it('refuses an unknown field and a field written twice, which would hide an edit', () => {
    expect(refusal(GOOD.replace('Section: text\n', 'Section: text\nX-Run: rm -rf /\n')).message).toMatch(/package stanza 1 \(less\): unknown field "X-Run"/);
    expect(refusal(GOOD.replace('Section: text\n', `Section: text\nSHA256: ${'d'.repeat(64)}\n`)).message).toMatch(/^relt\.lock:\d+: field SHA256 appears twice in one stanza/);
  });

  it('a truncated lockfile names the file and exits 2, wherever it was cut', () => {
    for (let cut = GOOD.length - 1; cut > 0; cut -= 7) {
      const text = GOOD.slice(0, cut);
      let err: unknown;
      let lock;
      try {
        lock = readLock(text, 'relt.lock');
      } catch (e) {
        err = e;
      }
      // Cut right after a complete stanza, it is a shorter lock: the consistency check (`ota lock --check`, and `ota build` first) finds what is missing.
      if (lock) expect(text, `cut at ${cut} reads as a lock`).toMatch(/(Origin-Component: main|:00Z)\n*$/);
      else {
        expect(err, `cut at ${cut}`).toBeInstanceOf(OtaError);
        expect((err as OtaError).exitCode, `cut at ${cut}: ${(err as Error).message}`).toBe(2);
        expect((err as OtaError).message).toMatch(/^relt\.lock/);
      }
    }
    expect(refusal(GOOD.slice(0, GOOD.indexOf('SHA256: b'))).message).toMatch(/package stanza 1 \(less\) has no SHA256 \(is the file cut short\?\)/);
  });

  it(`refuses more than ${MAX_LOCK_PACKAGES} package stanzas`, () => {
    const many = Array.from({ length: MAX_LOCK_PACKAGES + 1 }, (_, i) => stanza(`p${i}`, SHA)).join('\n');
    expect(refusal(`${HEADER}\n${many}`).message).toMatch(/has 20001 package stanzas; ota reads at most 20000/);
  });
});

describe("an archive's Packages index", () => {
  it('refuses a stanza whose SHA256 or Filename would become a path outside the cache or the archive', () => {
    const idx = (sha: string, filename: string) => PackagesIndex.fromText(`Package: less\nVersion: 1\nArchitecture: amd64\nFilename: ${filename}\nSize: 10\nSHA256: ${sha}\n`);
    expect(idx(SHA, 'pool/main/l/less.deb').records('less')[0]!.sha256).toBe(SHA);
    const e1 = rejectionOf(OtaError, () => idx('../../tmp/victim/pwned', 'pool/main/l/less.deb').records('less'));
    const e2 = rejectionOf(OtaError, () => idx(SHA, '../../../etc/passwd').records('less'));
    return Promise.all([
      expect(e1).resolves.toMatchObject({ code: 'ERR_OTA_INDEX', message: expect.stringMatching(/"less": SHA256 is not 64 lowercase hex digits/) }),
      expect(e2).resolves.toMatchObject({ code: 'ERR_OTA_INDEX', message: expect.stringMatching(/"less": Filename must stay inside the archive/) }),
    ]);
  });
});

describe('local debs in a lock (docs/manifest.md, "Local debs")', () => {
  const local = (file: string) => `Package: tool
Version: 2.0
Architecture: amd64
Filename: ${file}
Size: 1000
SHA256: ${'d'.repeat(64)}
Origin-Uri: local
Origin-Suite: local
Origin-Component: -
`;
  const withLocal = (listed: string, ...files: string[]) => `${HEADER.replace('Sources:', `Local-Debs: ${listed}\nSources:`)}\n${files.map(local).join('\n')}`;

  it('reads a stanza whose Filename the header lists', () => {
    const lock = readLock(withLocal('debs/tool.deb', 'debs/tool.deb'), 'relt.lock');
    expect(lock.header.localDebs).toEqual(['debs/tool.deb']);
    expect(lock.packages.get('tool')!.origin.uri).toBe('local');
  });

  it('refuses a local stanza naming another file, a listed file without its stanza, a file twice, and a path leaving the folder', () => {
    expect(refusal(withLocal('debs/tool.deb', 'image.yaml')).message).toMatch(/Filename image\.yaml is not one of the header's Local-Debs/);
    expect(refusal(`${HEADER}\n${local('debs/tool.deb')}`).message).toMatch(/is not one of the header's Local-Debs/);
    expect(refusal(withLocal('debs/tool.deb debs/other.deb', 'debs/tool.deb')).message).toMatch(/Local-Debs lists debs\/other\.deb, but no package stanza comes from it/);
    expect(refusal(withLocal('debs/tool.deb', 'debs/tool.deb', 'debs/tool.deb')).message).toMatch(/appears 2 times|a second stanza from the local deb/);
    expect(refusal(withLocal('../tool.deb', '../tool.deb')).message).toMatch(/Local-Debs holds "\.\.\/tool\.deb", which is not a \.deb path inside the manifest's folder/);
    expect(refusal(withLocal('debs/tool.deb', 'debs/tool.deb').replace('Origin-Suite: local', 'Origin-Suite: bookworm')).message).toMatch(/Origin-Suite local and Origin-Component -/);
  });
});
