import { OtaError } from '../../common/errors.js';
import { parseStanzas } from '../apt/control.js';
import { catFile, type Repo } from '../../node-ostree/index.js';
import { debControlRef, type LockedDeb } from './plan-debs.js';

/**
 * The lock must be what gets built: a deb is found by its SHA256 alone, so a stanza whose Version
 * (or Package, or Architecture) was edited would still fetch and build the real deb, and the
 * image's dpkg database would record the deb's own fields, not the lock's. Every imported deb's
 * control file is read back and compared with its stanza before the build uses it (also when the
 * whole build is a no-op: a cached result must not pass off an edited lock).
 *
 * @example
 * await refuseControlMismatch(repo, plan.debs, 'image.lock'); // throws ERR_OTA_LOCKFILE naming both
 */
export async function refuseControlMismatch(repo: Repo, debs: LockedDeb[], lockPath: string): Promise<void> {
  const refs = repo.listRefs('ota/deb');
  const problems: string[] = [];
  for (const d of debs) {
    const ref = debControlRef(d.sha256);
    if (!refs.has(ref)) continue; // not imported yet: checked once it is
    const control = parseStanzas((await catFile(repo, ref, '/control')).toString('utf8'))[0] ?? new Map<string, string>();
    const real = { name: control.get('Package'), version: control.get('Version'), architecture: control.get('Architecture') };
    if (real.name !== d.name || real.version !== d.version || real.architecture !== d.architecture) {
      problems.push(`the lock says ${d.name} ${d.version} ${d.architecture}, but its deb (SHA256 ${d.sha256}) is ${real.name} ${real.version} ${real.architecture}`);
    }
  }
  if (problems.length === 0) return;
  throw new OtaError('ERR_OTA_LOCKFILE', `${lockPath}: ${problems.length} stanza${problems.length > 1 ? 's do' : ' does'} not describe the deb${problems.length > 1 ? 's' : ''} it locks; nothing was built`, {
    details: problems,
    hint: 'the stanza was edited, or its archive indexes the deb wrongly: regenerate the lock with `ota lock --update <manifest>`',
  });
}
