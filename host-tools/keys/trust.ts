import { OtaError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { loadTrustedKeys, type TrustedKeys } from '../../contract/index.js';
import { lockPublished } from '../publish/lock.js';
import { publishedPaths, requirePublished } from '../publish/published-dir.js';

/**
 * The keys a published directory is published with (PUBLISHED/keys.jwks): `ota publish` signs only
 * with one of them, so rotating the release key is two explicit steps (docs/releases.md,
 * "Rotating the release key"): `ota keys trust` adds the new public key, publishes move to the new
 * key, and once every device trusts it `ota keys untrust` drops the old one. Both take the publish
 * lock and replace keys.jwks atomically.
 *
 * @example
 * await trustKeys('/srv/ota', 'keys-2026/');          // adds keys-2026/release.pub.jwks
 * await untrustKey('/srv/ota', 'R6kHXX6O5CaKuKcb...'); // drops the old key
 */
export interface PublishedKeysReport {
  published: string;
  /** The kids in keys.jwks afterwards, in file order. */
  kids: string[];
  added: string[];
  removed: string[];
}

export async function trustKeys(published: string, keyPath: string): Promise<PublishedKeysReport> {
  const incoming = await loadTrustedKeys(keyPath);
  return editPublishedKeys(published, (current) => {
    const added = [...incoming.byKid.keys()].filter((kid) => !current.byKid.has(kid));
    const keys = [...current.byKid.values(), ...added.map((kid) => incoming.byKid.get(kid)!)];
    return { keys, added, removed: [] };
  });
}

export async function untrustKey(published: string, kid: string): Promise<PublishedKeysReport> {
  return editPublishedKeys(published, (current) => {
    if (!current.byKid.has(kid)) {
      throw new OtaError('ERR_OTA_KEY', `${kid} is not one of ${published}'s keys (${[...current.byKid.keys()].join(', ')})`, { hint: 'see them with `ota keys show PUBLISHED/keys.jwks`' });
    }
    if (current.byKid.size === 1) {
      throw new OtaError('ERR_OTA_KEY', `${kid} is ${published}'s only key: nothing could publish there after it is gone`, { hint: 'trust the new key first with `ota keys trust`' });
    }
    return { keys: [...current.byKid.values()].filter((k) => k.kid !== kid), added: [], removed: [kid] };
  });
}

type Edit = (current: TrustedKeys) => { keys: { kid: string; publicJwk: object }[]; added: string[]; removed: string[] };

async function editPublishedKeys(published: string, edit: Edit): Promise<PublishedKeysReport> {
  const paths = publishedPaths(published);
  await requirePublished(paths.root);
  const release = await lockPublished(paths.root);
  try {
    const current = await loadTrustedKeys(paths.keys);
    const r = edit(current);
    if (r.added.length + r.removed.length > 0) {
      await writeFileAtomic(paths.keys, `${JSON.stringify({ keys: r.keys.map((k) => k.publicJwk) }, null, 2)}\n`);
    }
    return { published: paths.root, kids: r.keys.map((k) => k.kid), added: r.added, removed: r.removed };
  } finally {
    await release();
  }
}

