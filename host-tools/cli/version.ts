import { packageVersion } from '../../common/package-version.js';
import { run } from '../../common/exec.js';
import { probeLibostree } from '../../node-ostree/version.js';

/**
 * What `ota --version` reports: ota's own version, and the libostree it runs against with that
 * build's features (gpgme, libcurl, ...). The version comes from the library; the features from
 * the `ostree` program of the same version, which is where libostree's build writes them (the
 * library has no call that returns them). Loaded only for `--version`, so no other command pays
 * for it.
 *
 * @example
 * const r = await versionReport();
 * versionLines(r); // ['ota 0.1.0', 'libostree 2022.7', '  features: libcurl libsoup gpgme ...', ...]
 */
export interface VersionReport {
  ota: string;
  node: string;
  libostree: {
    version: string | null;
    /** null when the `ostree` program is missing or is another version than the library. */
    features: string[] | null;
    /** Why there is no version or no feature list. */
    note: string | null;
  };
  /** ed25519 commit signatures: ota makes and checks them itself; libostree's own only when built with them. */
  ed25519: { ota: true; libostree: boolean | null };
}

export async function versionReport(): Promise<VersionReport> {
  const ota = await packageVersion();
  const probe = probeLibostree();
  const version = probe.version;
  let note = probe.note;
  let features: string[] | null = null;
  if (version !== null) {
    const cli = await ostreeProgram();
    if (cli === null) note = 'features unknown: the ostree program, which lists them, is not installed';
    else if (cli.version !== version) note = `features unknown: the ostree program is ${cli.version}, the library ${version}`;
    else features = cli.features;
  }
  const libostreeEd25519 = features === null ? null : features.includes('sign-ed25519');
  return { ota, node: process.versions.node, libostree: { version, features, note }, ed25519: { ota: true, libostree: libostreeEd25519 } };
}

export function versionLines(r: VersionReport): string[] {
  const lines = [`ota ${r.ota}`, `libostree ${r.libostree.version ?? 'not found'}`];
  if (r.libostree.features) lines.push(`  features: ${r.libostree.features.join(' ')}`);
  if (r.libostree.note) lines.push(`  ${r.libostree.note}`);
  const own = r.ed25519.libostree === null ? '' : r.ed25519.libostree ? ' (libostree has its own too)' : ' (this libostree is built without)';
  lines.push(`ed25519 signatures: made and checked by ota${own}`);
  lines.push(`node ${r.node}`);
  return lines;
}

/** `ostree --version` is YAML-like: `libostree:`, ` Version: '2022.7'`, ` Features:`, `  - gpgme`. */
export function parseOstreeVersion(text: string): { version: string; features: string[] } | null {
  const version = /^\s*Version:\s*'?([^'\s]+)'?\s*$/m.exec(text)?.[1];
  if (!version) return null;
  const after = text.slice(text.search(/^\s*Features:\s*$/m));
  const features = /Features:/.test(after) ? [...after.matchAll(/^\s*-\s*(\S+)\s*$/gm)].map((m) => m[1]!) : [];
  return { version, features };
}

async function ostreeProgram(): Promise<{ version: string; features: string[] } | null> {
  try {
    return parseOstreeVersion((await run('ask the ostree program for its features', ['ostree', '--version'])).stdout);
  } catch {
    return null;
  }
}
