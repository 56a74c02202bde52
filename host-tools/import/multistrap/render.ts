import { Document, isSeq } from 'yaml';
import { OtaError } from '../../../common/errors.js';
import { parseManifest } from '../../manifest/load.js';
import { manifestSchema, type Arch } from '../../manifest/schema.js';
import type { ManifestSource } from './sections.js';

/**
 * The manifest a multistrap configuration converts into, written as YAML with a comment header
 * (where it came from, what did not carry over), and read back to prove it says what was meant.
 *
 * @example
 * const yaml = render(manifest, 'rootfs.conf', [], warnings);
 * verify(yaml, manifest, 'rootfs.conf');
 */
export interface ManifestOut {
  name: string;
  arch: Arch;
  sources: ManifestSource[];
  variant: 'minbase' | 'none';
  packages: string[];
  recommends: boolean;
}

export function render(m: ManifestOut, where: string, included: string[], warnings: string[]): string {
  // Keys in the schema's order; `board` and `exclude` have no multistrap counterpart and are left out.
  const doc = new Document({
    name: m.name,
    arch: m.arch,
    sources: m.sources,
    variant: m.variant,
    packages: m.packages,
    recommends: m.recommends,
  });
  // Short lists inline (`suites: [bookworm]`), packages one per line so later diffs stay readable.
  const sources = doc.get('sources', true);
  if (isSeq(sources)) {
    for (let i = 0; i < sources.items.length; i++) {
      for (const k of ['suites', 'components', 'keyring']) {
        const node = doc.getIn(['sources', i, k], true);
        if (isSeq(node)) node.flow = true;
      }
    }
  }
  const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');
  const header = [`# imported from ${oneLine(where)} by ota import multistrap`];
  if (included.length > 0) header.push(`# (with ${included.map(oneLine).join(', ')} included)`);
  // The warnings travel with the file, so whoever opens it later sees what still needs doing.
  for (const w of warnings) header.push(`# warning: ${oneLine(w)}`);
  return `${header.join('\n')}\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}

/**
 * The output must load as a manifest and say what the conversion meant; otherwise the importer
 * has a bug or met input it does not understand, and the user gets an error instead of a file that
 * fails later in `ota lock`.
 */
export function verify(yaml: string, m: ManifestOut, where: string): void {
  let parsed;
  try {
    parsed = parseManifest(yaml, `manifest converted from ${where}`);
  } catch (e) {
    const err = e as OtaError;
    throw new OtaError('ERR_OTA_IMPORT', `converting ${where} produced an invalid manifest: ${err.message}`, {
      details: err.details,
      hint: 'this is a bug in ota import multistrap; please report it with the multistrap config',
      cause: e,
    });
  }
  const expected = manifestSchema.parse(m);
  if (JSON.stringify(parsed) !== JSON.stringify(expected)) {
    throw new Error(`converting ${where}: the written manifest does not read back as converted; this is a bug`);
  }
}
