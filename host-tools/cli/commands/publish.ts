import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { formatBytes } from '../../../common/units.js';
import { publish, type PublishResult } from '../../publish/publish.js';
import { requireRepo } from '../input-repo.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/** `ota publish`: a built commit becomes a signed release in a published directory (docs/releases.md, "Publishing"). */
export function registerPublish(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('publish')
    .description('publish a built commit as a signed release: commit, static deltas, summary and release manifest')
    .requiredOption('--repo <dir>', 'the build repository holding the ref')
    .requiredOption('--to <dir>', 'the published directory (created on first use)')
    .requiredOption('--ref <ref>', 'the ref to publish (the same name in the published repository)')
    .option('--commit <rev>', 'the built commit to publish, a checksum or a ref of --repo (default: --ref)')
    .requiredOption('--version <version>', 'the release version (a dpkg version, above the latest published one)')
    .requiredOption('--key <path>', 'the release key: a key DIR from `ota keys generate` or its release.jwk')
    .option('--group <group>', "also make this the group's current release (groups/<group>/release.jws)")
    .option('--min-version <version>', 'anti-rollback floor: devices refuse versions at or below it (default: the previous release\'s)')
    .option('--delta-from <version...>', 'make static deltas from these published versions (default: the last --deltas ones)')
    .option('--deltas <n>', 'static deltas from the last N published versions', parseCount, 3)
    .option('--expires <duration>', 'how long the manifest is valid, e.g. 90d, 12h, 3600s (default 90d)', parseDuration)
    .option('--gpg-homedir <dir>', 'a GnuPG home to GPG-sign with (default: gpg/ in the key DIR, if present)')
    .option('--gpg-key-id <id>', 'the GPG key to sign with (default: the first secret key of the home)')
    .option('--force', 'publish a version at or below the floor or below the latest (never one already published)')
    .option('-q, --quiet', 'print only warnings and the summary')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); progress stays on stderr')
    .action(async (opts: { repo: string; to: string; ref: string; commit?: string; version: string; key: string; group?: string; minVersion?: string; deltaFrom?: string[]; deltas: number; expires?: number; gpgHomedir?: string; gpgKeyId?: string; force?: boolean; json?: boolean }) => {
      await requireRepo(opts.repo);
      const started = Date.now();
      const r = await publish({
        repoPath: opts.repo, to: opts.to, ref: opts.ref, version: opts.version, key: opts.key, deltas: opts.deltas,
        ...(opts.commit !== undefined ? { commit: opts.commit } : {}), ...(opts.group !== undefined ? { group: opts.group } : {}), ...(opts.minVersion !== undefined ? { minVersion: opts.minVersion } : {}),
        ...(opts.deltaFrom !== undefined ? { deltaFrom: opts.deltaFrom } : {}), ...(opts.expires !== undefined ? { expiresInSeconds: opts.expires } : {}),
        ...(opts.gpgHomedir !== undefined ? { gpgHomedir: opts.gpgHomedir } : {}), ...(opts.gpgKeyId !== undefined ? { gpgKeyId: opts.gpgKeyId } : {}),
        force: opts.force ?? false, onEvent: io.reporter.event,
      });
      io.reporter.clear();
      const seconds = (Date.now() - started) / 1000;
      if (opts.json) {
        printJson(out, { ...r, seconds });
        return;
      }
      out(summaryLine(r, seconds));
    });
}

/** `published gateway/arm64 1.2.0: commit abc123456789, 3 deltas (1.2 MiB), full pull 80.1 MiB, in 4.2s` */
export function summaryLine(r: PublishResult, seconds: number): string {
  const deltaBytes = r.deltas.reduce((s, d) => s + d.bytes, 0);
  const deltas = r.deltas.length === 0 ? 'no deltas' : `${r.deltas.length} delta${r.deltas.length === 1 ? '' : 's'} (${formatBytes(deltaBytes)})`;
  const changes = r.previousVersion ? `, vs ${r.previousVersion}: +${r.changes.added} -${r.changes.removed} ~${r.changes.changed} packages` : '';
  return `published ${r.ref} ${r.version}: commit ${r.commit.slice(0, 12)}, ${deltas}, full pull ${formatBytes(r.fullPullBytes)}, ${r.packages} packages${changes}, in ${seconds.toFixed(1)}s`;
}

function parseCount(v: string): number {
  if (!/^\d+$/.test(v)) throw new OtaError('ERR_OTA_USAGE', `--deltas takes a count such as 3, not "${v}"`);
  return Number(v);
}

/** 90d, 12h, 30m, 3600s, 2w (or a plain number of seconds). */
export function parseDuration(v: string): number {
  const m = /^(\d+)([smhdw]?)$/.exec(v);
  const seconds = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]!]! : 0;
  if (!m || seconds <= 0) throw new OtaError('ERR_OTA_USAGE', `--expires takes a duration such as 90d, 12h or 3600s, not "${v}"`);
  return seconds;
}
