import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { writeFileAtomic } from '../../../common/atomic-write.js';
import { importMultistrap } from '../../import/multistrap.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/** `ota import multistrap FILE`: an existing multistrap configuration -> image manifest. */
export function registerImport(program: Command, io: CliIo): void {
  const { out } = io;
  const imp = program.command('import').description('turn another tool\'s configuration into an image manifest');
  imp
    .command('multistrap')
    .description('convert a multistrap configuration file')
    .argument('<file>', 'multistrap configuration')
    .option('-o, --output <manifest>', 'write the manifest here (default: stdout)')
    .option('--name <name>', 'image name (default: from the file name)')
    .option('-a, --arch <arch>', "the image's architecture, over the file's arch= (as multistrap's -a)")
    .option('--force', 'overwrite an existing output file')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md), the manifest inside it')
    .action(async (file: string, opts: { output?: string; name?: string; arch?: string; force?: boolean; json?: boolean }) => {
      const result = await importMultistrap(file, { name: opts.name, arch: opts.arch });
      for (const w of result.warnings) io.reporter.line(`warning: ${w}`);
      if (opts.output) {
        if (!opts.force && (await access(opts.output).then(() => true, () => false))) {
          throw new OtaError('ERR_OTA_USAGE', `${opts.output} already exists`, { hint: 'pass --force to overwrite it' });
        }
        await writeFileAtomic(opts.output, result.yaml);
      }
      if (opts.json) printJson(out, { output: opts.output ?? null, manifest: result.yaml, warnings: result.warnings });
      else if (!opts.output) out(result.yaml.replace(/\n$/, ''));
      else out(`${opts.output}: manifest imported from ${file}${result.warnings.length ? ` (${result.warnings.length} warnings)` : ''}`);
    });
}
