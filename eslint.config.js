import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// Rooms stay small (docs/conventions.md): a file, a function and a parameter list have a size
// limit, errors for new code. The files listed in LEGACY exceeded a limit when the limits came
// in: they report warnings until they are brought under it, then leave the list.
const SIZE = {
  'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
  'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
  'max-params': ['error', 4],
};

/** Files over a limit when the limits came in, with the rules they break. */
const LEGACY = {
  'max-lines': [
    'node-ostree/gvariant.ts',
    'test/helpers/fixture-archive.ts',
    'test/helpers/fixture-archive.test.ts',
    'test/host-tools/import/multistrap.test.ts',
    'test/host-tools/lock/resolve.test.ts',
    'test/host-tools/lock/rules.int.test.ts',
    'test/node-ostree/gvariant.test.ts',
    'test/node-ostree/tar-writer.int.test.ts',
  ],
  'max-lines-per-function': [
    'bootloader/uboot/boot-script.ts',
    'node-ostree/gvariant.ts',
  ],
  'max-params': [
    'bench/build.ts',
    'bootloader/state-vars.ts',
    'common/dpkg-version.ts',
    'common/strict-yaml.ts',
    'host-tools/apt/host-sources.ts',
    'host-tools/apt/release.ts',
    'host-tools/apt/suite.ts',
    'host-tools/image/disk-image.ts',
    'host-tools/image/flash.ts',
    'host-tools/lock/board-components.ts',
    'node-ostree/commit.ts',
    'node-ostree/errors.ts',
    'node-ostree/gvariant.ts',
    'test/e2e/boot-e2e.ts',
    'test/helpers/fixture-archive.ts',
    'test/node-ostree/objects.test.ts',
  ],
};

// Who may import what (docs/architecture.md): one door to subprocesses (common/exec.ts), the
// native bindings only inside node-ostree/, and the two halves (host-tools/, device-agent/) never
// import each other; both may use node-ostree/, bootloader/, common/, contract/ and bundle/.
const CHILD_PROCESS = {
  names: ['node:child_process', 'child_process'],
  message: 'subprocesses go through common/exec.ts (run), the one door that names the program in errors',
};
const KOFFI = { names: ['koffi'], message: 'native calls stay inside node-ostree/' };
const HOST_TOOLS = {
  names: ['deb-ota'],
  patterns: ['**/host-tools', '**/host-tools/**'],
  message: 'device-agent/ does not import host-tools/: share code through common/, node-ostree/, bootloader/, contract/ or bundle/',
};
const DEVICE_AGENT = {
  patterns: ['**/device-agent', '**/device-agent/**'],
  message: 'host-tools/ does not import device-agent/: share code through common/, node-ostree/, bootloader/, contract/ or bundle/',
};

const BUNDLE = {
  names: ['deb-ota'],
  patterns: ['**/host-tools', '**/host-tools/**', '**/device-agent', '**/device-agent/**'],
  message: 'bundle/ is read by both halves, so it imports neither: only common/, contract/ and node-ostree/ (bundle/README.md)',
};

const CONTRACT = {
  names: ['deb-ota', 'deb-ota/node-ostree', 'deb-ota/bootloader'],
  patterns: ['**/host-tools', '**/host-tools/**', '**/device-agent', '**/device-agent/**', '**/node-ostree', '**/node-ostree/**', '**/bootloader', '**/bootloader/**'],
  message: 'contract/ imports only common/ and npm packages, so both halves can import it (docs/contract.md)',
};

/** no-restricted-imports and the matching dynamic import() selectors for a set of bans. */
function importRules(bans) {
  const paths = bans.flatMap((b) => (b.names ?? []).map((name) => ({ name, message: b.message })));
  const patterns = bans.filter((b) => b.patterns).map((b) => ({ group: b.patterns, message: b.message }));
  const dynamic = bans.map((b) => {
    const names = (b.names ?? []).map((n) => n.replace(/[.:]/g, '\\$&').replace(/\//g, '\\x2F'));
    const folders = (b.patterns ?? []).map((p) => p.replace(/\*\*\//g, '').replace(/\/\*\*$/, ''));
    // esquery ends a regex at any slash, so the slashes are written as \x2F.
    const re = [...names.map((n) => `^${n}$`), ...folders.map((f) => `(^|\\x2F)${f}(\\x2F|$)`)].join('|');
    return { selector: `ImportExpression[source.value=/${re}/]`, message: b.message };
  });
  return {
    'no-restricted-imports': ['error', { paths, patterns }],
    'no-restricted-syntax': ['error', ...dynamic],
  };
}

/** One config per area; the areas are disjoint, so each states its whole set of bans. */
const AREAS = [
  { files: ['**/*.{ts,js,mjs}'], bans: [CHILD_PROCESS, KOFFI] },
  { files: ['common/exec.ts'], bans: [KOFFI] },
  { files: ['node-ostree/**', 'test/node-ostree/**'], bans: [CHILD_PROCESS] },
  { files: ['host-tools/**', 'test/host-tools/**'], bans: [CHILD_PROCESS, KOFFI, DEVICE_AGENT] },
  { files: ['device-agent/**', 'test/device-agent/**'], bans: [CHILD_PROCESS, KOFFI, HOST_TOOLS] },
  { files: ['contract/**'], bans: [CHILD_PROCESS, KOFFI, CONTRACT] },
  { files: ['bundle/**'], bans: [CHILD_PROCESS, KOFFI, BUNDLE] },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      ...SIZE,
    },
  },
  // A test's describe block holds its cases: long by nature, and read case by case.
  { files: ['test/**'], rules: { 'max-lines-per-function': 'off' } },
  // The dashboard's page runs in a browser, and shows what devices wrote: never as markup
  // (docs/dashboard.md, "Security model").
  {
    files: ['host-tools/dashboard/web/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-properties': ['error', ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'write', 'writeln', 'createContextualFragment'].map((property) => ({ property, message: 'build the page with textContent and createElement (docs/dashboard.md, "Security model")' }))],
    },
  },
  ...Object.entries(LEGACY)
    .filter(([, files]) => files.length > 0)
    .map(([rule, files]) => ({ files, rules: { [rule]: ['warn', ...SIZE[rule].slice(1)] } })),
  ...AREAS.map(({ files, bans }) => ({ files, rules: importRules(bans) })),
);
