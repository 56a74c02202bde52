/**
 * The pure half of `scripts/demo` (demo-main.ts runs it): the demo's manifests (the example
 * gateway image plus the agent's .deb and a network package as local debs, and 1.1 with one
 * package added), the network package's plan, the stage clock with its headers and its one-line
 * summary, and the line that weighs what the device downloaded against the full commit.
 *
 * @example
 * const clock = new StageClock(console.log);
 * await clock.stage('lock', 'ota lock of the manifest', () => lock());
 * console.log(clock.summary('done'));
 */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../common/exec.js';
import type { ReleaseManifest } from '../../contract/index.js';
import { NET_PACKAGE } from './update-packages.js';

/**
 * The package 1.1 adds: one package, no new dependencies, and nothing dracut copies into the
 * initramfs (its base module takes `less` when the image has it, which made a 40 MB delta).
 */
export const ADDED_IN_1_1 = 'tree';

/**
 * The demo's manifest: the example's text with its local debs appended (paths relative to the
 * manifest's folder, docs/manifest.md, "Local debs"), and with `extra` packages for a later version.
 */
export function demoManifest(example: string, debs: string[], extra: string[] = []): string {
  const lines = example.trimEnd().split('\n');
  if (/^debs:/m.test(example)) throw new Error('the example manifest already lists debs: the demo appends its own');
  const at = lines.findIndex((l) => /^packages:\s*$/.test(l));
  if (at < 0 && extra.length > 0) throw new Error('the example manifest has no block `packages:` list to add to');
  let end = at + 1;
  while (end < lines.length && /^\s+-\s/.test(lines[end]!)) end++;
  const withExtra = at < 0 ? lines : [...lines.slice(0, end), ...extra.map((p) => `  - ${p}`), ...lines.slice(end)];
  return `${[...withExtra, 'debs:', ...debs.map((d) => `  - ${d}`)].join('\n')}\n`;
}

/** One local package as dpkg-deb builds it: control fields, regular files and symlinks. */
export interface LocalDebPlan {
  name: string;
  version: string;
  arch: string;
  control: string;
  files: Record<string, string>;
  symlinks: Record<string, string>;
}

/**
 * The guest's network as a package (update-packages.ts's NET_PACKAGE, the one the update proof
 * installs): systemd-networkd enabled, a static address on qemu's user network.
 */
export function netDebPlan(name = 'ota-demo-net'): LocalDebPlan {
  const p = NET_PACKAGE;
  const control = [
    `Package: ${name}`,
    `Version: ${p.version}`,
    `Architecture: ${p.arch}`,
    'Maintainer: deb-ota demo <deb-ota@example.invalid>',
    `Priority: ${p.priority}`,
    'Section: net',
    'Depends: systemd',
    `Description: ${p.description.replace('deb-ota e2e', 'deb-ota demo')}`,
    '',
  ].join('\n');
  return { name, version: p.version, arch: p.arch, control, files: p.files, symlinks: p.symlinks };
}

/** The local package's timestamps (files and archive members). */
const DEB_EPOCH = Date.UTC(2023, 5, 10) / 1000;

/** Builds the plan into `<dir>/<name>_<version>_<arch>.deb` with dpkg-deb (root-owned files); returns its path. */
export async function buildLocalDeb(plan: LocalDebPlan, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stage = await mkdtemp(join(dir, '.stage-'));
  try {
    await mkdir(join(stage, 'DEBIAN'), { recursive: true });
    await writeFile(join(stage, 'DEBIAN/control'), plan.control);
    for (const [path, text] of Object.entries(plan.files)) {
      await mkdir(join(stage, dirname(path)), { recursive: true });
      await writeFile(join(stage, path), text, { mode: 0o644 });
    }
    for (const [path, target] of Object.entries(plan.symlinks)) {
      await mkdir(join(stage, dirname(path)), { recursive: true });
      await symlink(target, join(stage, path));
    }
    await run('chmod the package tree', ['chmod', '-R', 'u=rwX,go=rX', stage]);
    await chmod(stage, 0o755);
    // the same bytes on every run: a rebuilt .deb is a changed input, and the lock and the build would start over
    await run('date the package tree', ['find', stage, '-exec', 'touch', '-h', '-d', `@${DEB_EPOCH}`, '{}', '+']);
    const out = join(dir, `${plan.name}_${plan.version}_${plan.arch}.deb`);
    await run(`dpkg-deb --build ${plan.name}`, ['dpkg-deb', '--root-owner-group', '-Zxz', '--threads-max=1', '--build', stage, out], { env: { ...process.env, SOURCE_DATE_EPOCH: String(DEB_EPOCH) } });
    return out;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** `12.3s` or `2m03.4s` (boot-e2e.ts's `fmt`, kept here so this module stays pure). */
export function clock(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${(seconds - m * 60).toFixed(1).padStart(4, '0')}s`;
}

/** Times named stages, prints a header as each starts (with the time since the first) and a summary line. */
export class StageClock {
  readonly stages: { name: string; seconds: number }[] = [];
  private readonly t0: number;

  constructor(
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.t0 = now();
  }

  elapsed(): number {
    return (this.now() - this.t0) / 1000;
  }

  /** `name` goes into the summary, `what` into the header after it. */
  async stage<T>(name: string, what: string, fn: () => Promise<T>): Promise<T> {
    const s0 = this.now();
    this.log('');
    this.log(`== [${clock(this.elapsed())}] ${this.stages.length + 1}. ${name}: ${what}`);
    try {
      return await fn();
    } finally {
      this.stages.push({ name, seconds: (this.now() - s0) / 1000 });
    }
  }

  /** `demo: <outcome> in 12m03.4s (lock 40.1s, build 5m02.0s, ...)`. */
  summary(outcome: string): string {
    return `demo: ${outcome} in ${clock(this.elapsed())} (${this.stages.map((s) => `${s.name} ${clock(s.seconds)}`).join(', ')})`;
  }
}

/** What the device downloaded for a release against the full commit's size, from its manifest and the counts. */
export function downloadLine(release: Pick<ReleaseManifest, 'version' | 'deltas' | 'fullPullBytes'>, from: string, got: { wire: number; reported: number }): string {
  const size = (n: number) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);
  const delta = release.deltas.find((d) => d.fromVersion === from);
  // Two significant figures below 1%: a delta is a few hundredths of a percent of its commit, never "0.0%".
  const share = (p: number) => (p >= 1 ? p.toFixed(1) : p.toPrecision(2));
  const pct = release.fullPullBytes > 0 ? ` (${share((100 * got.wire) / release.fullPullBytes)}% of it)` : '';
  const how = delta ? `the static delta from ${from} is ${size(delta.bytes)}` : `no static delta from ${from} was published`;
  return `${release.version}: the device downloaded ${size(got.wire)} at the wire (${size(got.reported)} of objects as it reported) against ${size(release.fullPullBytes)} for the whole commit${pct}; ${how}`;
}

/** What the demo shows of a lockfile: its header, how many packages, and the local debs' stanzas. */
export function lockHighlights(text: string): { header: string[]; packages: number; local: { name: string; version: string; sha256: string }[] } {
  const paragraphs = text.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
  const field = (p: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(p)?.[1]?.trim() ?? '';
  const stanzas = paragraphs.filter((p) => /^Package:/m.test(p));
  return {
    header: paragraphs[0] !== undefined && !/^Package:/m.test(paragraphs[0]) ? paragraphs[0].split('\n') : [],
    packages: stanzas.length,
    local: stanzas.filter((p) => field(p, 'Origin-Uri') === 'local').map((p) => ({ name: field(p, 'Package'), version: field(p, 'Version'), sha256: field(p, 'SHA256') })),
  };
}
