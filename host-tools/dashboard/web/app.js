// @ts-check
// The dashboard's page (docs/dashboard.md): one document, pages chosen by the URL's hash, each
// fed by the server's event stream. A page's first state arrives on its stream; later events
// carry only what changed.
import { clear, h } from './dom.js';
import { fleetPage } from './fleet.js';
import { devicePage } from './device.js';
import { releasesPage } from './releases.js';
import { rolloutsPage } from './rollouts.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const live = /** @type {HTMLElement} */ (document.getElementById('live'));

/** @type {{ close: () => void } | null} */
let current = null;

/** What the server offers: `actions` is false when it was started without a signing key. */
const config = await fetch('/api/config', { credentials: 'same-origin' }).then(
  (r) => {
    // A session that ended (a logout elsewhere, a restarted server) goes back to the login.
    if (r.status === 401) location.href = '/login';
    return r.ok ? r.json() : { actions: false };
  },
  () => ({ actions: false }),
);

function route() {
  current?.close();
  current = null;
  clear(main);
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = hash.split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${page || 'fleet'}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx = { main, status: setLive, actions: config.actions === true };
  if (page === 'device' && arg) current = devicePage(ctx, arg);
  else if (page === 'releases') current = releasesPage(ctx, arg);
  else if (page === 'rollouts') current = rolloutsPage(ctx, arg);
  else current = fleetPage(ctx);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

/** @param {string} text */
function setLive(text) {
  live.textContent = text;
}

window.addEventListener('hashchange', route);
route();

const logout = document.getElementById('logout');
logout?.addEventListener('click', async () => {
  await fetch('/logout', { method: 'POST', credentials: 'same-origin' });
  location.href = '/login';
});

/**
 * Opens the page's stream; `on` maps event names to handlers of their parsed data.
 * @param {string} url
 * @param {Record<string, (data: any) => void>} on
 * @param {(text: string) => void} status
 */
export function stream(url, on, status) {
  const es = new EventSource(url);
  for (const [name, fn] of Object.entries(on)) es.addEventListener(name, (e) => fn(JSON.parse(/** @type {MessageEvent} */ (e).data)));
  es.onopen = () => status('live');
  es.onerror = () => status(es.readyState === EventSource.CLOSED ? 'disconnected: reload the page' : 'reconnecting…');
  return es;
}

/**
 * POSTs an action as JSON; resolves to the server's answer.
 * @param {string} name
 * @param {unknown} body
 */
export async function act(name, body) {
  const r = await fetch(`/api/actions/${encodeURIComponent(name)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
  const doc = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(doc.hint ? `${doc.error} (${doc.hint})` : doc.error);
  return doc.result;
}

export { h };

/**
 * A button that asks before it acts, and says in `out` what came of it.
 * @param {{ label: string, question: string, name: string, body: unknown, out: HTMLElement, done: (result: any) => string }} o
 */
export function actionButton(o) {
  return h('button', {
    type: 'button',
    class: 'danger',
    'data-action': o.name,
    onclick: async () => {
      if (!confirm(o.question)) return;
      o.out.textContent = `${o.label}…`;
      try {
        o.out.textContent = o.done(await act(o.name, o.body));
      } catch (e) {
        o.out.textContent = `${o.label}: refused: ${e instanceof Error ? e.message : String(e)}`;
      }
    },
  }, o.label);
}
