import { createHash } from 'node:crypto';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { fetchBytes } from '../../common/http.js';
import {
  buildArchive,
  disposeGpgKey,
  makeGpgKey,
  serveDirectory,
  type BuiltArchive,
  type FixturePackage,
  type FixtureServer,
  type FixtureSuite,
  type GpgKey,
} from './fixture-archive.js';

// Shared package descriptions: the same object in two suites must give one pool file.
const hello: FixturePackage = {
  name: 'hello',
  version: '2.10-3',
  depends: 'libhello1 (>= 2.10), hello-data (= 2.10-3)',
  recommends: 'tool',
  description: 'example program\nPrints a greeting.\n\nSecond paragraph.',
  files: { '/usr/bin/hello': '#!/bin/sh\necho hello\n', '/etc/hello.conf': 'greeting=hi\n' },
  conffiles: ['/etc/hello.conf'],
};
const helloData: FixturePackage = {
  name: 'hello-data',
  version: '2.10-3',
  arch: 'all',
  source: 'hello (2.10-3)',
  multiArch: 'foreign',
  files: { '/usr/share/hello/data.bin': Buffer.from([0, 1, 2, 3, 255]) },
};

const suites: FixtureSuite[] = [
  {
    suite: 'stable',
    codename: 'bookworm',
    arches: ['amd64', 'arm64'],
    date: new Date('2023-06-10T09:06:58Z'),
    listUncompressed: true, // as the Debian archive does, and as apt needs
    components: {
      main: [
        hello,
        helloData,
        { name: 'libhello1', version: '2.10-3', source: 'hello', multiArch: 'same', files: { '/usr/lib/x86_64-linux-gnu/libhello.so.1': 'ELF?' } },
        { name: 'libhello1', version: '2.10-3', arch: 'arm64', source: 'hello', multiArch: 'same' },
        {
          name: 'tool',
          version: '1:3.0-1',
          compression: 'zstd',
          essential: true,
          priority: 'required',
          section: 'utils',
          provides: 'tool-virtual (= 3.0)',
          preDepends: 'libhello1',
          conflicts: 'old-tool',
          breaks: 'hello (<< 2.0)',
          replaces: 'old-tool',
          suggests: 'hello',
          scripts: { postinst: 'echo configured\n', prerm: '#!/bin/bash\nexit 0\n' },
          extraControl: { 'X-Fixture': 'yes', priority: 'important' },
        },
        { name: 'gzpkg', version: '1.0-1', compression: 'gzip' },
        { name: 'plainpkg', version: '1.0-1', compression: 'none' },
        { name: 'libfoo2', version: '0.9-1' },
      ],
      contrib: [{ name: 'extra', version: '0.1-1', depends: 'hello' }],
    },
  },
  {
    suite: 'testing',
    arches: ['amd64'],
    validUntil: new Date('2099-01-01T00:00:00Z'),
    indexCompression: ['xz', 'none'],
    components: {
      main: [hello, helloData, { name: 'hello', version: '2.12-1', depends: 'libc6' }],
    },
  },
  {
    suite: 'unstable',
    arches: ['amd64'],
    indexCompression: ['gz'],
    components: { main: [helloData] },
  },
];

/** The Debian field order the Packages stanzas must follow (Source is dpkg's, after Package). */
const ORDER = [
  'Package', 'Source', 'Version', 'Architecture', 'Multi-Arch', 'Essential', 'Priority', 'Section', 'Maintainer',
  'Installed-Size', 'Provides', 'Pre-Depends', 'Depends', 'Recommends', 'Suggests', 'Conflicts', 'Breaks', 'Replaces',
  'X-Fixture', 'Filename', 'Size', 'SHA256', 'Description',
];

let tmp: string;
let key: GpgKey;
let otherKey: GpgKey;
let archive: BuiltArchive;
let root: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-fixture-'));
  [key, otherKey] = await Promise.all([makeGpgKey(tmp), makeGpgKey(tmp, 'Some Other Key')]);
  root = path.join(tmp, 'archive');
  archive = await buildArchive(root, suites, { key });
}, 20_000);

afterAll(async () => {
  if (key) await disposeGpgKey(key);
  if (otherKey) await disposeGpgKey(otherKey);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Deb822 paragraphs as ordered [field, value] lists; continuation lines join with \n. */
function parseStanzas(text: string): Array<Array<[string, string]>> {
  return text
    .split(/\n\n+/)
    .filter((p) => p.trim() !== '')
    .map((p) => {
      const fields: Array<[string, string]> = [];
      for (const line of p.split('\n')) {
        if (line.startsWith(' ')) fields[fields.length - 1]![1] += `\n${line}`;
        else if (line) {
          const i = line.indexOf(':');
          fields.push([line.slice(0, i), line.slice(i + 1).trim()]);
        }
      }
      return fields;
    });
}
const get = (st: Array<[string, string]>, f: string) => st.find(([k]) => k === f)?.[1];

function releaseSha256(release: string): Array<{ sha256: string; size: number; rel: string }> {
  const block = release.split('SHA256:\n')[1] ?? '';
  return block
    .split('\n')
    .filter((l) => l.startsWith(' '))
    .map((l) => {
      const [h, size, rel] = l.trim().split(/\s+/);
      return { sha256: h!, size: Number(size), rel: rel! };
    });
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), `${prefix}${e.name}/`)));
    else out.push(prefix + e.name);
  }
  return out.sort();
}

/** Member names of an ar archive (a .deb): debian-binary, control.tar.*, data.tar.* */
function arMembers(buf: Buffer): string[] {
  expect(buf.subarray(0, 8).toString('latin1')).toBe('!<arch>\n');
  const names: string[] = [];
  for (let off = 8; off + 60 <= buf.length; ) {
    names.push(buf.subarray(off, off + 16).toString('latin1').trim().replace(/\/$/, ''));
    const size = Number.parseInt(buf.subarray(off + 48, off + 58).toString('latin1').trim(), 10);
    off += 60 + size + (size % 2);
  }
  return names;
}

async function unxz(file: string): Promise<Buffer> {
  return (await run('decompress', ['xz', '--decompress', '--stdout', file], { binary: true })).stdout;
}

describe('makeGpgKey', () => {
  it('makes a key with its own home, a binary keyring and an armored export', async () => {
    expect(key.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(key.home.startsWith(tmp)).toBe(true);
    expect(key.fingerprint).not.toBe(otherKey.fingerprint);
    const ring = await readFile(key.keyring);
    expect(ring[0]! & 0x80).toBe(0x80); // an OpenPGP packet, not armor
    expect(await readFile(key.armored, 'utf8')).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  });
});

describe('buildArchive', () => {
  it('signs InRelease so gpgv accepts it with the key, and only with the key', async () => {
    const inRelease = path.join(root, 'dists/stable/InRelease');
    const ok = await run('verify', ['gpgv', '--keyring', key.keyring, '--output', '-', inRelease]);
    expect(ok.stderr).toContain(key.fingerprint);
    // The signed text is Release, byte for byte.
    expect(ok.stdout).toBe(await readFile(path.join(root, 'dists/stable/Release'), 'utf8'));
    await expect(run('verify', ['gpgv', '--keyring', otherKey.keyring, inRelease])).rejects.toBeInstanceOf(OtaError);
    expect(existsSync(path.join(root, 'dists/stable/Release.gpg'))).toBe(false);
  });

  it('writes Release with Debian fields and a sorted SHA256 list of exactly the published indexes', async () => {
    const release = await readFile(path.join(root, 'dists/stable/Release'), 'utf8');
    const head = parseStanzas(release.split('SHA256:\n')[0]!)[0]!;
    expect(head.map(([k]) => k)).toEqual(['Origin', 'Label', 'Suite', 'Codename', 'Date', 'Architectures', 'Components', 'Description']);
    expect(get(head, 'Date')).toBe('Sat, 10 Jun 2023 09:06:58 UTC');
    expect(get(head, 'Suite')).toBe('stable');
    expect(get(head, 'Codename')).toBe('bookworm');
    expect(get(head, 'Architectures')).toBe('amd64 arm64');
    expect(get(head, 'Components')).toBe('main contrib');

    for (const suite of ['stable', 'testing', 'unstable']) {
      const dist = path.join(root, 'dists', suite);
      const entries = releaseSha256(await readFile(path.join(dist, 'Release'), 'utf8'));
      const rels = entries.map((e) => e.rel);
      expect(rels).toEqual([...rels].sort());
      const published = (await listFiles(dist)).filter((f) => !['Release', 'InRelease', 'Release.gpg'].includes(f));
      if (suite === 'stable') {
        // listUncompressed: each Packages is listed (as on the Debian archive) but not published.
        for (const e of entries.filter((x) => x.rel.endsWith('/Packages'))) {
          expect(published).not.toContain(e.rel);
          const plain = gunzipSync(await readFile(path.join(dist, `${e.rel}.gz`)));
          expect(e).toEqual({ rel: e.rel, size: plain.length, sha256: sha256(plain) });
        }
      }
      expect(rels.filter((r) => suite !== 'stable' || !r.endsWith('/Packages'))).toEqual(published);
      for (const e of entries.filter((x) => published.includes(x.rel))) {
        const bytes = await readFile(path.join(dist, e.rel));
        expect({ rel: e.rel, size: bytes.length, sha256: sha256(bytes) }).toEqual(e);
      }
    }
    expect(releaseSha256(await readFile(path.join(root, 'dists/stable/Release'), 'utf8')).map((e) => e.rel)).toEqual([
      'contrib/binary-amd64/Packages', 'contrib/binary-amd64/Packages.gz', 'contrib/binary-amd64/Packages.xz',
      'contrib/binary-arm64/Packages', 'contrib/binary-arm64/Packages.gz', 'contrib/binary-arm64/Packages.xz',
      'main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz',
      'main/binary-arm64/Packages', 'main/binary-arm64/Packages.gz', 'main/binary-arm64/Packages.xz',
    ]);
    expect(releaseSha256(await readFile(path.join(root, 'dists/unstable/Release'), 'utf8')).map((e) => e.rel)).toEqual([
      'main/binary-amd64/Packages.gz',
    ]);
    const testing = await readFile(path.join(root, 'dists/testing/Release'), 'utf8');
    expect(testing).toContain('Valid-Until: Thu, 01 Jan 2099 00:00:00 UTC\n');
    expect(testing).toMatch(/^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC$/m);
    expect(testing).toContain('Codename: testing\n');
  });

  it('writes Packages stanzas in Debian field order whose Filename/Size/SHA256 match the pool', async () => {
    const dist = path.join(root, 'dists/stable');
    const xz = await unxz(path.join(dist, 'main/binary-amd64/Packages.xz'));
    const gz = gunzipSync(await readFile(path.join(dist, 'main/binary-amd64/Packages.gz')));
    expect(xz.equals(gz)).toBe(true);
    const amd64 = parseStanzas(xz.toString('utf8'));
    const arm64 = parseStanzas((await unxz(path.join(dist, 'main/binary-arm64/Packages.xz'))).toString('utf8'));
    // Sorted by name; arch:all packages are in every arch's index.
    expect(amd64.map((s) => `${get(s, 'Package')}:${get(s, 'Architecture')}`)).toEqual([
      'gzpkg:amd64', 'hello:amd64', 'hello-data:all', 'libfoo2:amd64', 'libhello1:amd64', 'plainpkg:amd64', 'tool:amd64',
    ]);
    expect(arm64.map((s) => `${get(s, 'Package')}:${get(s, 'Architecture')}`)).toEqual(['hello-data:all', 'libhello1:arm64']);

    for (const st of [...amd64, ...arm64]) {
      const names = st.map(([k]) => k);
      const idx = names.map((n) => ORDER.indexOf(n));
      expect(idx.every((i) => i >= 0), names.join(',')).toBe(true);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      const deb = archive.debs.get(`${get(st, 'Package')}_${get(st, 'Version')}_${get(st, 'Architecture')}`)!;
      const bytes = await readFile(path.join(root, get(st, 'Filename')!));
      expect(get(st, 'Filename')).toBe(deb.filename);
      expect(Number(get(st, 'Size'))).toBe(bytes.length);
      expect(get(st, 'SHA256')).toBe(sha256(bytes));
      expect(deb.sha256).toBe(sha256(bytes));
    }

    const byName = (n: string) => amd64.find((s) => get(s, 'Package') === n)!;
    expect(get(byName('hello'), 'Filename')).toBe('pool/main/h/hello/hello_2.10-3_amd64.deb');
    expect(get(byName('hello'), 'Description')).toBe('example program\n Prints a greeting.\n .\n Second paragraph.');
    expect(get(byName('hello-data'), 'Filename')).toBe('pool/main/h/hello/hello-data_2.10-3_all.deb');
    expect(get(byName('libfoo2'), 'Filename')).toBe('pool/main/libf/libfoo2/libfoo2_0.9-1_amd64.deb');
    const tool = byName('tool');
    expect(get(tool, 'Filename')).toBe('pool/main/t/tool/tool_3.0-1_amd64.deb'); // epoch dropped
    expect(get(tool, 'Version')).toBe('1:3.0-1');
    expect(get(tool, 'Essential')).toBe('yes');
    expect(get(tool, 'Priority')).toBe('important'); // extraControl replaced it in place
    expect(get(tool, 'X-Fixture')).toBe('yes');
    expect(get(tool, 'Section')).toBe('utils');

    const contrib = parseStanzas((await unxz(path.join(dist, 'contrib/binary-amd64/Packages.xz'))).toString('utf8'));
    expect(get(contrib[0]!, 'Section')).toBe('contrib/misc');
    expect(get(contrib[0]!, 'Filename')).toBe('pool/contrib/e/extra/extra_0.1-1_amd64.deb');
  });

  it('builds each deb once even when several suites list it', async () => {
    const testing = parseStanzas(await readFile(path.join(root, 'dists/testing/main/binary-amd64/Packages'), 'utf8'));
    expect(testing.map((s) => `${get(s, 'Package')}=${get(s, 'Version')}`)).toEqual(['hello=2.10-3', 'hello=2.12-1', 'hello-data=2.10-3']);
    expect(get(testing[0]!, 'SHA256')).toBe(archive.debs.get('hello_2.10-3_amd64')!.sha256);
    expect(archive.debs.size).toBe(10);
    const pool = (await listFiles(path.join(root, 'pool'))).filter((f) => f.endsWith('.deb'));
    expect(pool).toHaveLength(10);
    expect((await readdir(root)).sort()).toEqual(['dists', 'pool']); // scratch dirs are gone
    expect(existsSync(path.join(root, 'dists/bookworm/InRelease'))).toBe(true); // codename symlink
  });

  it('makes valid debs: control, files, modes, scripts, conffiles, compression', async () => {
    const helloDeb = archive.debs.get('hello_2.10-3_amd64')!.path;
    const info = (await run('info', ['dpkg-deb', '-f', helloDeb])).stdout;
    const control = parseStanzas(info)[0]!;
    expect(get(control, 'Package')).toBe('hello');
    expect(get(control, 'Depends')).toBe('libhello1 (>= 2.10), hello-data (= 2.10-3)');
    expect(get(control, 'Maintainer')).toMatch(/@example\.invalid>$/);
    const contents = (await run('contents', ['dpkg-deb', '-c', helloDeb])).stdout;
    expect(contents).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/hello$/m);
    expect(contents).toMatch(/^-rw-r--r-- root\/root .* \.\/etc\/hello\.conf$/m);
    expect(contents).toMatch(/^drwxr-xr-x root\/root .* \.\/$/m);

    const ctl = path.join(tmp, 'hello-control');
    await run('extract control', ['dpkg-deb', '-e', helloDeb, ctl]);
    expect(await readFile(path.join(ctl, 'conffiles'), 'utf8')).toBe('/etc/hello.conf\n');
    expect(await readFile(path.join(ctl, 'md5sums'), 'utf8')).toContain('  usr/bin/hello\n');

    const toolDeb = archive.debs.get('tool_1:3.0-1_amd64')!.path;
    const toolInfo = (await run('info', ['dpkg-deb', '-I', toolDeb])).stdout;
    expect(toolInfo).toMatch(/^\s+\d+ bytes,\s+\d+ lines\s+\*\s+postinst\s+#!\/bin\/sh$/m);
    expect(toolInfo).toMatch(/\*\s+prerm\s+#!\/bin\/bash$/m);
    expect(toolInfo).toContain(' Pre-Depends: libhello1\n');

    const members = async (k: string) => arMembers(await readFile(archive.debs.get(k)!.path));
    expect(await members('tool_1:3.0-1_amd64')).toEqual(['debian-binary', 'control.tar.zst', 'data.tar.zst']);
    expect(await members('gzpkg_1.0-1_amd64')).toEqual(['debian-binary', 'control.tar.gz', 'data.tar.gz']);
    expect((await members('plainpkg_1.0-1_amd64'))[2]).toBe('data.tar');
    expect((await members('hello_2.10-3_amd64'))[2]).toBe('data.tar.xz');

    const data = (await run('contents', ['dpkg-deb', '--fsys-tarfile', archive.debs.get('hello-data_2.10-3_all')!.path], { binary: true })).stdout;
    expect(data.includes(Buffer.from([0, 1, 2, 3, 255]))).toBe(true);
  });

  it('rebuilds byte-identical debs and supports Release.gpg and unsigned archives', async () => {
    const again = await buildArchive(path.join(tmp, 'detached'), [{ suite: 'stable', arches: ['amd64'], components: { main: [hello] } }], {
      key,
      signing: 'release-gpg',
    });
    expect(again.debs.get('hello_2.10-3_amd64')!.sha256).toBe(archive.debs.get('hello_2.10-3_amd64')!.sha256);
    const dist = path.join(tmp, 'detached/dists/stable');
    expect(existsSync(path.join(dist, 'InRelease'))).toBe(false);
    expect(await readFile(path.join(dist, 'Release.gpg'), 'utf8')).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    await run('verify', ['gpgv', '--keyring', key.keyring, path.join(dist, 'Release.gpg'), path.join(dist, 'Release')]);

    await buildArchive(path.join(tmp, 'unsigned'), [{ suite: 's', arches: ['amd64'], components: { main: [] } }], {});
    expect((await readdir(path.join(tmp, 'unsigned/dists/s'))).sort()).toEqual(['Release', 'main']);
    // An empty component still gets (empty) indexes, listed in Release.
    expect(await readFile(path.join(tmp, 'unsigned/dists/s/Release'), 'utf8')).toContain(' main/binary-amd64/Packages.xz\n');
  });

  it('rejects misuse before building anything', async () => {
    const one = (p: FixturePackage, arches = ['amd64']) => [{ suite: 's', arches, components: { main: [p] } }];
    await expect(buildArchive(path.join(tmp, 'bad1'), one(hello), { signing: 'inrelease' })).rejects.toThrow(/needs a key/);
    await expect(buildArchive(path.join(tmp, 'bad2'), one({ ...hello, arch: 'riscv64' }), {})).rejects.toThrow(/does not carry/);
    await expect(
      buildArchive(path.join(tmp, 'bad3'), [...one(hello), { suite: 't', arches: ['amd64'], components: { main: [{ ...hello, depends: 'x' }] } }], {}),
    ).rejects.toThrow(/described differently/);
    await expect(buildArchive(path.join(tmp, 'bad4'), one({ name: 'x', version: '1', files: { 'rel/path': '' } }), {})).rejects.toThrow(/absolute/);
    // dpkg-deb's own checks come through as OtaErrors naming the package.
    await expect(buildArchive(path.join(tmp, 'bad5'), one({ name: 'x', version: '1', conffiles: ['/etc/missing'] }), {})).rejects.toThrow(
      /build fixture package x_1_amd64/,
    );
    expect(existsSync(path.join(tmp, 'bad1'))).toBe(false);
  });
});

describe('serveDirectory', () => {
  let server: FixtureServer;
  beforeAll(async () => {
    server = await serveDirectory(root);
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A raw request, so paths reach the server exactly as written (fetch would normalize `..`). */
  function rawGet(p: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      const req = http.request({ hostname, port, path: p, method, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves files, 404s missing ones and paths outside the root, and records requests', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const start = server.requests.length;
    const body = await fetchBytes(`${server.url}/dists/stable/InRelease`);
    expect(body.equals(await readFile(path.join(root, 'dists/stable/InRelease')))).toBe(true);
    const deb = archive.debs.get('hello_2.10-3_amd64')!;
    expect(sha256(await fetchBytes(`${server.url}/${deb.filename}`))).toBe(deb.sha256);
    expect(await fetchBytes(`${server.url}/dists/stable/main/binary-amd64/Packages`, { allowMissing: true })).toBeUndefined();
    expect((await rawGet('/dists/stable/')).status).toBe(404);
    await writeFile(path.join(tmp, 'secret'), 'outside');
    expect((await rawGet('/%2e%2e/secret')).status).toBe(404);
    expect((await rawGet('/../secret')).status).toBe(404);
    const head = await rawGet('/dists/stable/Release', 'HEAD');
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe((await readFile(path.join(root, 'dists/stable/Release'))).length);
    expect(head.body.length).toBe(0);
    expect(server.requests.slice(start)).toEqual([
      '/dists/stable/InRelease',
      `/${deb.filename}`,
      '/dists/stable/main/binary-amd64/Packages',
      '/dists/stable/',
      '/%2e%2e/secret',
      '/../secret',
      '/dists/stable/Release',
    ]);
  });

  it('injects status codes, resets, truncation and hangs for matching paths only', async () => {
    const xzUrl = `${server.url}/dists/stable/main/binary-amd64/Packages.xz`;
    server.fail('Packages.xz', 503, 2);
    expect((await fetch(`${server.url}/dists/stable/InRelease`)).status).toBe(200); // not matching: untouched
    expect((await fetch(xzUrl)).status).toBe(503);
    expect((await fetch(xzUrl)).status).toBe(503);
    expect((await fetch(xzUrl)).status).toBe(200);

    // The project's client retries through transient failures.
    server.fail('Packages.xz', 503, 2);
    const start = server.requests.length;
    const bytes = await fetchBytes(xzUrl, { backoffMs: 1 });
    expect(bytes.equals(await readFile(path.join(root, 'dists/stable/main/binary-amd64/Packages.xz')))).toBe(true);
    expect(server.requests.length - start).toBe(3);

    server.fail('InRelease', 'reset');
    await expect(fetch(`${server.url}/dists/stable/InRelease`)).rejects.toThrow();
    expect((await fetch(`${server.url}/dists/stable/InRelease`)).status).toBe(200);

    server.fail('Packages.gz', 'truncate');
    await expect(fetch(`${server.url}/dists/stable/main/binary-amd64/Packages.gz`).then((r) => r.arrayBuffer())).rejects.toThrow();

    server.fail('/Release', 'hang');
    await expect(fetch(`${server.url}/dists/stable/Release`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();

    server.fail('/Release', 404);
    await expect(fetchBytes(`${server.url}/dists/stable/Release`)).rejects.toMatchObject({ code: 'ERR_OTA_FETCH' });
  });
});

// apt itself is the reference client: if it can update from the fixture and resolve through it,
// so should `ota lock`. Everything apt writes goes under tmp (APT_CONFIG replaces the host config).
describe.skipIf(!existsSync('/usr/bin/apt-get'))('apt-get against the fixture', () => {
  it('updates, resolves dependencies and prints the pool URIs with their hashes', async () => {
    const server = await serveDirectory(root);
    try {
      const aptDir = path.join(tmp, 'apt');
      for (const d of ['etc/apt/apt.conf.d', 'etc/apt/preferences.d', 'etc/apt/sources.list.d', 'var/lib/apt/lists/partial',
        'var/cache/apt/archives/partial', 'var/lib/dpkg', 'var/log/apt']) {
        await mkdir(path.join(aptDir, d), { recursive: true });
      }
      await writeFile(path.join(aptDir, 'var/lib/dpkg/status'), '');
      await writeFile(path.join(aptDir, 'etc/apt/sources.list'), `deb [signed-by=${key.keyring}] ${server.url} bookworm main contrib\n`);
      const conf = path.join(aptDir, 'apt.conf');
      await writeFile(
        conf,
        [
          `Dir "${aptDir}/";`,
          `Dir::State::status "${aptDir}/var/lib/dpkg/status";`,
          'APT::Architecture "amd64";',
          'APT::Architectures { "amd64"; };',
          'Acquire::Languages "none";',
          'Debug::NoLocking "true";',
          // As root, apt would fetch as _apt, which cannot read a 0700 temp dir.
          ...(process.getuid?.() === 0 ? ['APT::Sandbox::User "root";'] : []),
          '',
        ].join('\n'),
      );
      const env = { ...process.env, APT_CONFIG: conf, LC_ALL: 'C' };
      const update = await run('apt-get update', ['apt-get', 'update'], { env });
      expect(update.stdout + update.stderr).not.toMatch(/^(W|E):/m);
      const sim = (await run('apt-get install -s', ['apt-get', 'install', '-s', '--no-install-recommends', 'extra'], { env })).stdout;
      expect(sim.match(/^Inst \S+/gm)?.sort()).toEqual(['Inst extra', 'Inst hello', 'Inst hello-data', 'Inst libhello1']);
      const uris = (await run('apt-get download --print-uris', ['apt-get', 'download', '--print-uris', 'hello'], { env })).stdout;
      const deb = archive.debs.get('hello_2.10-3_amd64')!;
      expect(uris.trim()).toBe(`'${server.url}/${deb.filename}' hello_2.10-3_amd64.deb ${deb.size} SHA256:${deb.sha256}`);
      expect(server.requests).toContain('/dists/bookworm/InRelease');
    } finally {
      await server.close();
    }
  });
});
