// @ts-check
// The release page (docs/dashboard.md, "What it shows"): the releases of the published
// directory (`ota serve --dashboard`) or the groups' retained releases, and one release's
// manifest, package changes and delta sizes. Manifests are read, not verified, here.
import { bytes, clear, h, link, table, when } from './dom.js';

/**
 * @param {{ main: HTMLElement, status: (t: string) => void }} ctx
 * @param {string | null} source
 */
export function releasesPage(ctx, source) {
  const body = h('section');
  ctx.main.append(h('h1', { text: source === null ? 'Releases' : 'Release' }), body);
  let closed = false;
  void (async () => {
    const r = await fetch('/api/releases', { credentials: 'same-origin' });
    const { releases } = r.ok ? await r.json() : { releases: [] };
    if (closed) return;
    clear(body);
    if (source === null) list(body, releases);
    else detail(body, releases.find((/** @type {any} */ e) => e.source === source));
    ctx.main.dataset.state = 'ready';
  })();
  return { close: () => (closed = true) };
}

/** @param {HTMLElement} el @param {any[]} releases */
function list(el, releases) {
  if (releases.length === 0) return void el.append(h('p', { text: 'No release: the dashboard was given no published directory and no group has a retained release.' }));
  el.append(
    h('p', { class: 'note', text: 'Manifests are shown as read; their signatures are checked by the devices and by `ota verify`, not here.' }),
    table(
      'releases, newest first',
      ['release', 'ref', 'group', 'published', 'full pull', 'deltas', 'changes'],
      releases.map((e) => {
        const m = e.manifest;
        const go = link(`#/releases/${encodeURIComponent(e.source)}`, m ? m.version : e.source);
        if (!m) return [go, '-', e.group ?? '-', '-', '-', '-', e.problem ?? '-'];
        const c = m.changes;
        return [go, m.ref, e.group ?? m.group ?? '-', when(m.publishedAt), bytes(m.fullPullBytes), m.deltas.map((/** @type {any} */ d) => `${d.fromVersion}: ${bytes(d.bytes)}`).join(', ') || '-', c.previousVersion === null ? `first: ${c.added.length} packages` : `+${c.added.length} -${c.removed.length} ~${c.changed.length}`];
      }),
    ),
  );
}

/** @param {HTMLElement} el @param {any} e */
function detail(el, e) {
  el.append(h('p', {}, link('#/releases', '← Releases')));
  if (!e) return void el.append(h('p', { text: 'No such release.' }));
  if (!e.manifest) return void el.append(h('p', { role: 'alert', text: `${e.source}: ${e.problem}` }));
  const m = e.manifest;
  const facts = [
    ['source', e.source],
    ['ref', m.ref],
    ['version', m.version],
    ['commit', m.commit],
    ['subject', m.subject ?? '-'],
    ['board / arch', `${m.board ?? '-'} / ${m.arch}`],
    ['floor (minVersion)', m.minVersion ?? '-'],
    ['group', m.group ?? '-'],
    ['published', when(m.publishedAt)],
    ['expires', when(e.expiresAt)],
    ['full pull', bytes(m.fullPullBytes)],
    ['unpacked', bytes(m.unpackedBytes)],
    ['packages', String(m.packages.length)],
  ];
  const c = m.changes;
  el.append(
    h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])),
    h('h2', { text: 'Deltas' }),
    table('static deltas to this release', ['from', 'download', 'against a full pull'], m.deltas.map((/** @type {any} */ d) => [d.fromVersion, bytes(d.bytes), m.fullPullBytes > 0 ? `${((100 * d.bytes) / m.fullPullBytes).toFixed(1)}%` : '-'])),
    h('h2', { text: c.previousVersion === null ? 'Packages (first release)' : `Package changes since ${c.previousVersion}` }),
    table('package changes', ['change', 'package', 'version'], [
      ...c.added.map((/** @type {any} */ a) => ['added', a.name, a.version]),
      ...c.removed.map((/** @type {any} */ a) => ['removed', a.name, a.version]),
      ...c.changed.map((/** @type {any} */ a) => ['changed', a.name, `${a.from} → ${a.to}`]),
    ]),
  );
}
