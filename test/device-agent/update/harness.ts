import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join, normalize, relative } from 'node:path';
import { commitDirectory, encodeMetadata, GVariantValue, pull, Repo, Sysroot } from '../../../node-ostree/index.js';
import { ota } from '../../helpers/cli.js';

/**
 * For the update tests: small bootable commits (a kernel and initramfs under
 * /usr/lib/modules/<kver>, so `ostree admin deploy` takes them) with the metadata `ota build`
 * writes; releases made by the real `ota keys generate` and `ota publish`; the published
 * directory served over HTTP on 127.0.0.1 by a plain static server that logs each request and can
 * drop a connection after N bytes of one file; and a device sysroot in a temp dir running release 1.0.
 */
export const REF = 'fx/amd64';
export const BOARD = 'fxboard';
export const OS = 'debian';

export interface Release {
  version: string;
  commit: string;
}

export interface Publisher {
  pub: string;
  keyDir: string;
  /** Builds a commit whose files depend on `version` (a 120 kB incompressible file among them) and publishes it. */
  publish(version: string, ...more: string[]): Promise<Release>;
}

async function writeTree(dir: string, version: string): Promise<void> {
  const kver = '6.1.0-test';
  await mkdir(join(dir, 'usr/lib/modules', kver), { recursive: true });
  await mkdir(join(dir, 'usr/etc'), { recursive: true });
  await mkdir(join(dir, 'usr/lib/sysimage/dpkg'), { recursive: true });
  await mkdir(join(dir, 'usr/share/fx'), { recursive: true });
  await writeFile(join(dir, 'usr/lib/modules', kver, 'vmlinuz'), 'KERNEL: not a real kernel\n');
  await writeFile(join(dir, 'usr/lib/modules', kver, 'initramfs.img'), 'INITRAMFS\n');
  await writeFile(join(dir, 'usr/lib/os-release'), `ID=debian\nVERSION_ID=${version}\n`);
  await writeFile(join(dir, 'usr/lib/sysimage/dpkg/status'), `Package: fx\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n`);
  // What every version shares (so a delta is smaller than a whole pull), and what each changes.
  await writeFile(join(dir, 'usr/share/fx/base'), noise('base', 300_000));
  await writeFile(join(dir, 'usr/share/fx/blob'), noise(version, 120_000));
}

/** Incompressible bytes from a seed: the same seed, the same bytes. */
function noise(seed: string, size: number): Buffer {
  const blob = Buffer.alloc(size);
  const s = createHash('sha256').update(seed).digest();
  for (let i = 0; i < blob.length; i += 32) createHash('sha256').update(s).update(String(i)).digest().copy(blob, i);
  return blob;
}

export async function publisher(root: string): Promise<Publisher> {
  const keyDir = join(root, 'keys');
  const pub = join(root, 'published');
  const build = join(root, 'build');
  const k = await ota('keys', 'generate', keyDir);
  if (k.code !== 0) throw new Error(`ota keys generate failed: ${k.err}`);
  (await Repo.create(build, 'bare-user')).close();
  return {
    pub,
    keyDir,
    async publish(version, ...more) {
      const tree = join(root, `tree-${version}`);
      await writeTree(tree, version);
      const repo = await Repo.open(build);
      try {
        const metadata = encodeMetadata({ version: new GVariantValue('s', version), 'ota.arch': new GVariantValue('s', 'amd64'), 'ota.board': new GVariantValue('s', BOARD) });
        await commitDirectory(repo, tree, { ref: REF, subject: `fx ${version}`, metadata, timestamp: 1_700_000_000 });
      } finally {
        repo.close();
        await rm(tree, { recursive: true, force: true });
      }
      const r = await ota('publish', '--repo', build, '--to', pub, '--key', keyDir, '--ref', REF, '--version', version, '--group', 'lab', '--json', ...more);
      if (r.code !== 0) throw new Error(`ota publish ${version} failed: ${r.err}`);
      return { version, commit: (JSON.parse(r.out.join('\n')) as { commit: string }).commit };
    },
  };
}

export interface Request {
  path: string;
  range: string | undefined;
  /** Bytes of the body actually sent. */
  sent: number;
}

export interface StaticServer {
  url: string;
  requests: Request[];
  /**
   * The next GET of a path ending in `suffix` sends `bytes` bytes of the body and then holds the
   * connection until `drop()` destroys it: the test drops it once the client has written those
   * bytes, so the cut falls exactly there.
   */
  cutOnce(suffix: string, bytes: number): { drop: () => void };
  close(): Promise<void>;
}

/** GET with one byte range (206), as any static web server serves the published tree (docs/releases.md, "Serving"). */
export async function serve(dir: string): Promise<StaticServer> {
  const requests: Request[] = [];
  let cut: { suffix: string; bytes: number; dropped: Promise<void> } | undefined;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      const file = join(dir, path);
      const entry: Request = { path, range: req.headers.range, sent: 0 };
      requests.push(entry);
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile() || relative(dir, file).startsWith('..')) {
        res.writeHead(404).end();
        return;
      }
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      if (start >= st.size && m) {
        res.writeHead(416, { 'Content-Range': `bytes */${st.size}` }).end();
        return;
      }
      const headers = { 'Content-Length': String(st.size - start), 'Accept-Ranges': 'bytes', ...(m ? { 'Content-Range': `bytes ${start}-${st.size - 1}/${st.size}` } : {}) };
      res.writeHead(m ? 206 : 200, headers);
      const body = await readFile(file);
      const rest = body.subarray(start);
      if (cut && path.endsWith(cut.suffix)) {
        const { bytes: n, dropped } = cut;
        cut = undefined;
        entry.sent = n;
        res.write(rest.subarray(0, n));
        await dropped;
        res.socket?.destroy();
        return;
      }
      entry.sent = rest.length;
      res.end(rest);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutOnce(suffix, bytes) {
      let drop!: () => void;
      const dropped = new Promise<void>((resolve) => (drop = resolve));
      cut = { suffix, bytes, dropped };
      return { drop };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A device: a sysroot in `root`/sysroot with release `r` pulled from the published repository and deployed. */
export async function device(root: string, pub: string, r: Release): Promise<Sysroot> {
  const sysroot = await Sysroot.open(join(root, 'sysroot'));
  await sysroot.initFs();
  await sysroot.osInit(OS);
  const repo = await Repo.open(join(sysroot.path, 'ostree/repo'));
  try {
    await pull(repo, join(pub, 'repo'), { refs: [r.commit] });
    repo.setRef(REF, r.commit);
  } finally {
    repo.close();
  }
  await sysroot.deploy(OS, r.commit, { refspec: REF, kargs: ['root=LABEL=root'] });
  return sysroot;
}

/** Resolves once a partial download of `dest` (`<dest>.<pid>-<random>.partial`, common/partial-file.ts) holds `bytes` bytes. */
export async function partialReaches(dest: string, bytes: number): Promise<void> {
  const dir = dirname(dest);
  for (let i = 0; i < 3000; i++) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((x) => x.startsWith(`${basename(dest)}.`) && x.endsWith('.partial'))) {
      if ((await stat(join(dir, name)).catch(() => undefined))?.size === bytes) return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no partial file of ${dest} reached ${bytes} bytes`);
}

/** Re-exported for this harness's tests (test/helpers/tree-snapshot.ts holds it). */
export { hashTree } from '../../helpers/tree-snapshot.js';
