import { z } from 'zod';

/**
 * The image manifest (`image.yaml`), as the design describes it. Every object is strict: an
 * unknown key is an error naming the file, the key and its line (see `load.ts`).
 *
 * @example
 * name: gateway
 * arch: arm64
 * board: qemu-arm64
 * sources:
 *   - uri: host                  # the build machine's own apt sources
 *   - uri: ${OTA_EXTRA_MIRROR}   # or an environment variable; never a host name in the repo
 *     suites: [stable]
 *     components: [main]
 *     keyring: keys/extra.asc
 *     priority: 600
 * variant: minbase
 * packages: [systemd-sysv, openssh-server]
 */
export const ARCHES = ['amd64', 'arm64', 'armhf'] as const;
export type Arch = (typeof ARCHES)[number];

/** An image name (it becomes a ref) or a package name. */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9.+-]*$/;
/** `name`, `name=version` or `name/suite`, optionally with `:arch`. */
export const PACKAGE_SPEC = /^[a-z0-9][a-z0-9.+-]*(:[a-z0-9]+)?(=[A-Za-z0-9.+~:-]+|\/[A-Za-z0-9._-]+)?$/;
/**
 * A local .deb, relative to the manifest's folder and inside it (docs/manifest.md, "Local debs"):
 * no leading "/", no "." or ".." segment, the characters a pool path holds, ending in `.deb`.
 * The lock's header lists these paths separated by spaces, so none holds one.
 */
export const LOCAL_DEB_PATH = /^(?!.*(?:^|\/)\.{0,2}(?:\/|$))[A-Za-z0-9._+~@=,/-]{1,1020}\.deb$/;
/** At most this many local debs: each is hashed and read with dpkg-deb at every lock. */
export const MAX_LOCAL_DEBS = 100;
/** A folder of boards/: never a path (loadBoard takes a name with "/" or ending in .yaml for one). */
export const BOARD_NAME = /^(?!.*\.ya?ml$)[a-z0-9][a-z0-9._+-]*$/;

/**
 * Limits that refuse a runaway manifest before it costs memory: a manifest of a million package
 * names took 33 s and 1 GB to parse. A real one lists tens to hundreds of packages (their
 * dependencies are the lock's business) in a few KiB.
 */
export const MAX_MANIFEST_PACKAGES = 10_000;
export const MAX_MANIFEST_BYTES = 256 * 1024;

const name = z.string().regex(IMAGE_NAME, 'lowercase letters, digits, ".", "+" and "-", starting with a letter or digit');

const packageSpec = z
  .string()
  .regex(
    PACKAGE_SPEC,
    'a package name, optionally with `=VERSION` or `/SUITE` (for example `openssh-server` or `curl=7.88.1-10+deb12u5`)',
  );

export const sourceSchema = z.strictObject({
  /** `host`, an `http(s)://` or `file:` URL, or a URL holding `${VAR}` references. */
  uri: z.string().min(1),
  /** Suites and components become parts of the archive's URLs: they stay inside the archive. */
  suites: z.array(z.string().regex(/^(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._~+/-]+$/, 'a suite name (letters, digits, "._~+-/", no "..")')).min(1).optional(),
  components: z.array(z.string().regex(/^(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9][A-Za-z0-9._+/-]*$/, 'a component name (letters, digits, "._+-/", no "..")')).min(1).optional(),
  /** A keyring file (.gpg binary or .asc armored), relative to the manifest; or several. */
  keyring: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Pin priority as apt understands it: higher wins before version; below 0 is never chosen. */
  priority: z.number().int().min(-1000).max(1000).default(500),
  /** Where `ota build` also looks for this source's debs once the archive has dropped a locked version (a snapshot archive, a local mirror); `${VAR}` allowed. The lock's SHA256 decides what is accepted. */
  fallbacks: z.array(z.string().min(1)).optional(),
});

export const manifestSchema = z.strictObject({
  name,
  arch: z.enum(ARCHES),
  /** The board definition (boards/<name>/board.yaml) the image is for; board names may also hold "_". */
  board: z.string().regex(BOARD_NAME, 'a board name from boards/ (lowercase letters, digits, ".", "_", "+", "-")').optional(),
  sources: z.array(sourceSchema).min(1),
  variant: z.enum(['minbase', 'none']).default('none'),
  packages: z.array(packageSpec).max(MAX_MANIFEST_PACKAGES, `at most ${MAX_MANIFEST_PACKAGES} packages: list what the image needs, ota lock adds their dependencies`).default([]),
  exclude: z.array(name).max(MAX_MANIFEST_PACKAGES, `at most ${MAX_MANIFEST_PACKAGES} names`).default([]),
  recommends: z.boolean().default(false),
  /** Local .deb files (relative to the manifest, inside its folder), locked with their SHA256 and installed like any package. */
  debs: z
    .array(z.string().regex(LOCAL_DEB_PATH, 'a .deb path relative to the manifest, inside its folder (letters, digits, "._+~@=,-/"; no "..")'))
    .max(MAX_LOCAL_DEBS, `at most ${MAX_LOCAL_DEBS} local debs`)
    .default([]),
});

export type SourceSpec = z.infer<typeof sourceSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
