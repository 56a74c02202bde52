import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { defaultTrustedKeyrings, readHostSources, type HostSource } from '../apt/host-sources.js';
import { dearmor, isOpenPgpKeyring, readKeyring } from '../apt/keyring.js';
import type { Manifest } from '../manifest/schema.js';

/**
 * Turns the manifest's `sources` into concrete suites to fetch: `host` expands to the build
 * machine's apt sources, `${VAR}` references are filled from the environment, keyrings are read.
 * The manifest itself never needs an archive's host name.
 *
 * @example
 * const suites = await expandSources(manifest, 'image.yaml');
 * // [{ uri: 'http://…/debian', suite: 'bookworm', components: ['main'], priority: 500, … }]
 */
export interface ConcreteSuite {
  /** Index of the manifest source it came from. */
  sourceIndex: number;
  /** As written in the manifest: `host`, a URL, or a `${VAR}` template. */
  specUri: string;
  uri: string;
  suite: string;
  components: string[];
  keyrings: Buffer[];
  priority: number;
  /** Host sources that do not carry the image's arch are skipped with a warning, not an error. */
  fromHost: boolean;
  label: string;
}

export interface ExpandOptions {
  env?: NodeJS.ProcessEnv;
  etcApt?: string;
}

export async function expandSources(manifest: Manifest, manifestPath: string, options: ExpandOptions = {}): Promise<ConcreteSuite[]> {
  const env = options.env ?? process.env;
  const baseDir = dirname(manifestPath);
  const out: ConcreteSuite[] = [];
  for (const [i, src] of manifest.sources.entries()) {
    const at = `sources[${i}] (${manifestPath})`;
    const manifestKeyrings = src.keyring === undefined ? undefined : await readManifestKeyrings(src.keyring, baseDir, at);
    if (src.uri === 'host') {
      let hosts = await readHostSources(options.etcApt);
      hosts = hosts.filter((h) => !h.architectures || h.architectures.includes(manifest.arch));
      if (src.suites) hosts = hosts.filter((h) => src.suites!.includes(h.suite.replace('$(ARCH)', manifest.arch)));
      if (hosts.length === 0) {
        throw new OtaError('ERR_OTA_SOURCES', `${at}: the build host's apt sources have no entry${src.suites ? ` for suites ${src.suites.join(', ')}` : ''} that carries ${manifest.arch}`, {
          hint: 'check /etc/apt/sources.list.d, or give this source an explicit uri',
        });
      }
      for (const h of hosts) {
        const components = src.components ? h.components.filter((c) => src.components!.includes(c)) : h.components;
        if (components.length === 0 && !h.suite.endsWith('/')) continue;
        out.push({
          sourceIndex: i,
          specUri: 'host',
          uri: h.uri,
          suite: h.suite.replace('$(ARCH)', manifest.arch),
          components,
          keyrings: manifestKeyrings ?? (await hostKeyrings(h, options.etcApt)),
          priority: src.priority,
          fromHost: true,
          label: `${at} -> ${h.origin}`,
        });
      }
      continue;
    }
    const uri = expandVars(src.uri, env, at).replace(/\/+$/, '');
    if (!/^(https?|file):/.test(uri)) {
      throw new OtaError('ERR_OTA_MANIFEST', `${at}: uri "${uri}" is not an http(s):// or file: URL, nor \`host\``, {
        hint: 'write `uri: host` to use the build machine\'s apt sources, or `uri: ${MY_MIRROR}` to read it from the environment',
      });
    }
    if (!src.suites) throw new OtaError('ERR_OTA_MANIFEST', `${at}: a source with an explicit uri needs \`suites\``);
    for (const suite of src.suites) {
      const flat = suite.endsWith('/');
      if (!flat && !src.components) {
        throw new OtaError('ERR_OTA_MANIFEST', `${at}: suite "${suite}" needs \`components\` (only a flat repository, a suite ending in "/", has none)`);
      }
      out.push({
        sourceIndex: i,
        specUri: src.uri,
        uri,
        suite,
        components: flat ? [] : src.components!,
        keyrings: manifestKeyrings ?? (await readKeyrings(await defaultTrustedKeyrings(options.etcApt), baseDir)),
        priority: src.priority,
        fromHost: false,
        label: `${at} ${uri} ${suite}`,
      });
    }
  }
  return out;
}

/** Fills `${NAME}` from the environment; an unset variable is an error naming it. */
export function expandVars(text: string, env: NodeJS.ProcessEnv, at: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') {
      throw new OtaError('ERR_OTA_MANIFEST', `${at}: environment variable ${name} is not set`, {
        hint: `export ${name}=<archive url> (for example the mirror in /etc/apt/sources.list.d), or use \`uri: host\``,
      });
    }
    return v;
  });
}

/** More than any keyring holds (Debian's is ~100 KiB): the manifest names files, never a device or a stream. */
const MAX_KEYRING_BYTES = 16 * 1024 * 1024;

/**
 * The keyrings a manifest names, relative to it. A manifest arrives in a pull request like a
 * lockfile: its keyring paths are only read, but `/dev/zero` or a FIFO would be read forever, so
 * each must be a regular file of sane size, refused as bad input (exit 2) otherwise.
 */
async function readManifestKeyrings(spec: string | string[], baseDir: string, at: string): Promise<Buffer[]> {
  for (const p of Array.isArray(spec) ? spec : [spec]) {
    const path = isAbsolute(p) ? p : resolve(baseDir, p);
    const st = await stat(path).catch(() => undefined); // a missing file is readKeyring's to report
    if (st && (!st.isFile() || st.size > MAX_KEYRING_BYTES)) {
      throw new OtaError('ERR_OTA_MANIFEST', `${at}: keyring ${path} is ${st.isFile() ? `${st.size} bytes, more than any keyring` : 'not a regular file'}`, {
        hint: 'set `keyring:` to a .gpg or .asc file (relative to the manifest)',
      });
    }
  }
  const keyrings = await readKeyrings(spec, baseDir);
  const paths = Array.isArray(spec) ? spec : [spec];
  keyrings.forEach((k, i) => {
    // Any readable file would otherwise reach gpgv, which then reports a "key not in the keyring" failure (exit 1)
    // for what is a wrong path in the manifest.
    if (!isOpenPgpKeyring(k)) {
      throw new OtaError('ERR_OTA_MANIFEST', `${at}: keyring ${paths[i]} is not an OpenPGP keyring (neither an armored public key block nor binary key packets)`, {
        hint: 'set `keyring:` to a .gpg or .asc file (relative to the manifest)',
      });
    }
  });
  return keyrings;
}

async function readKeyrings(spec: string | string[], baseDir: string): Promise<Buffer[]> {
  const paths = Array.isArray(spec) ? spec : [spec];
  if (paths.length === 0) {
    throw new OtaError('ERR_OTA_SIGNATURE', 'no keyring to verify the archive with', {
      hint: 'install debian-archive-keyring, or give the source a `keyring:`',
    });
  }
  return Promise.all(paths.map((p) => readKeyring(isAbsolute(p) ? p : resolve(baseDir, p))));
}

async function hostKeyrings(h: HostSource, etcApt: string | undefined): Promise<Buffer[]> {
  if (h.signedBy.kind === 'files') return Promise.all(h.signedBy.paths.map((p) => readKeyring(p)));
  if (h.signedBy.kind === 'inline') return [dearmor(h.signedBy.armored, h.origin)];
  return readKeyrings(await defaultTrustedKeyrings(etcApt), '/');
}
