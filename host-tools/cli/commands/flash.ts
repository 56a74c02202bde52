import type { Command } from 'commander';
import { flash } from '../../image/flash.js';
import { formatBytes } from '../../../common/units.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/**
 * `ota flash disk.img --device /dev/sdX`: writes the image's mapped blocks, then reads them back.
 *
 * @example
 * registerFlash(program, io);
 * // $ ota flash out/disk.img --device /dev/sdb
 * // out/disk.img -> /dev/sdb: wrote 393.0 MiB, skipped 3.4 GiB of holes in 21.4s, verified
 */
export function registerFlash(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('flash')
    .description('write a disk image to a device (or file), only the blocks its .bmap maps, and verify it')
    .argument('<image>', 'disk image (a sparse file is fine)')
    .requiredOption('--device <path>', 'block device (/dev/sdX, /dev/mmcblkN) or file to write')
    .option('--bmap <file>', 'block map (default: IMAGE.bmap if it exists, else the whole image is written)')
    .option('--force', 'write even if the device is mounted, is this system\'s disk, is too small, or does not exist')
    .option('--no-verify', 'do not read the written blocks back')
    .option('-q, --quiet', 'print only warnings and the summary')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); progress stays on stderr')
    .action(async (image: string, opts: { device: string; bmap?: string; force?: boolean; verify: boolean; quiet?: boolean; json?: boolean }) => {
      const reporter = io.reporter;
      try {
        const r = await flash({ image, device: opts.device, bmap: opts.bmap, force: opts.force, verify: opts.verify, onEvent: reporter.event });
        reporter.clear();
        if (opts.json) {
          printJson(out, { image, device: opts.device, ...r });
          return;
        }
        const forced = r.overridden.length ? ` (forced past: ${r.overridden.map((c) => c.check).join(', ')})` : '';
        out(`${image} -> ${opts.device}: wrote ${formatBytes(r.writtenBytes)}, skipped ${formatBytes(r.skippedBytes)} of holes in ${r.seconds.toFixed(1)}s, ${r.verified ? 'verified' : 'not verified'}${forced}`);
      } finally {
        reporter.clear();
      }
    });
}
