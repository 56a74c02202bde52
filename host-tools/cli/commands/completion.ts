import type { Command } from 'commander';
import type { ManPageFacts } from '../../../common/cli/man-page.js';
import { registerCompletionCommands } from '../../../common/cli/register.js';
import type { CliIo } from '../io.js';

/** What ota(1) says beyond its command tree. */
export const OTA_PAGE: ManPageFacts = {
  name: 'ota',
  exitCodes: [
    ['0', 'success'],
    ['1', 'the work failed (a download, a signature, a build step)'],
    ['2', 'bad usage or input: an unknown option, a missing file, malformed YAML, an unknown package'],
    ['3', '`ota lock --check`: the lockfile no longer satisfies the manifest'],
  ],
  environment: [
    ['OTA_CACHE_DIR', 'the download and index cache of `ota lock` and `ota build` (else $XDG_CACHE_HOME/ota, else ~/.cache/ota); --cache-dir wins over it'],
    ['XDG_CACHE_HOME', 'the cache is $XDG_CACHE_HOME/ota when OTA_CACHE_DIR is not set'],
    ['http_proxy, https_proxy, no_proxy', 'proxies for archive and deb downloads, as apt uses them'],
    ['CI', 'when set, progress is printed as plain lines, never redrawn in place'],
  ],
  seeAlso: ['ostree (1)', 'apt (8)', 'multistrap (1)'],
};

/** `ota completion bash|zsh` and `ota man` (common/cli/register.ts). */
export function registerCompletion(program: Command, io: CliIo): void {
  registerCompletionCommands(program, { out: io.out, facts: OTA_PAGE });
}
