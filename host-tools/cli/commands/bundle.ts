import type { Command } from 'commander';
import { formatBytes } from '../../../common/units.js';
import { writeBundle } from '../../bundle/write.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/**
 * `ota bundle --to PUBLISHED --version V [--from V0] -o update.otab`: one file with the signed
 * manifest and a static delta, for an update without network (docs/releases.md, "Bundles").
 *
 * @example
 * registerBundle(program, io);
 * // $ ota bundle --to /srv/ota --version 1.3 --from 1.2 -o update.otab
 * // update.otab: gateway/arm64 1.3 from 1.2, 2 delta parts, 3.1 MiB
 */
export function registerBundle(program: Command, io: CliIo): void {
  program
    .command('bundle')
    .description('write one file (signed manifest plus a static delta) that a device applies offline, from a USB stick')
    .requiredOption('--to <published>', 'the published directory (ota publish --to)')
    .requiredOption('--version <v>', 'the release to bundle')
    .option('--ref <ref>', 'the ref, when several publish that version')
    .option('--from <v0>', 'the version the device runs (default: the whole commit)')
    .requiredOption('-o, --output <file>', 'the bundle to write (conventionally .otab)')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (opts: { to: string; version: string; ref?: string; from?: string; output: string; json?: boolean }) => {
      const r = await writeBundle({
        published: opts.to, version: opts.version, output: opts.output, onEvent: io.reporter.event,
        ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.from ? { from: opts.from } : {}),
      }).finally(() => io.reporter.clear());
      if (opts.json) {
        printJson(io.out, r);
        return;
      }
      const from = r.header.from ? `from ${r.header.from.version}` : 'whole commit';
      io.out(`${r.output}: ${r.header.ref} ${r.header.version} ${from}, ${r.parts} delta part${r.parts === 1 ? '' : 's'}, ${formatBytes(r.bytes)}`);
    });
}
