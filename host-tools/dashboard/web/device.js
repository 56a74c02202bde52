// @ts-check
// A device's page (docs/dashboard.md, "What it shows"): its status document, the events seen
// since the dashboard started (the broker keeps none), telemetry charts and its package
// inventory. Every string shown here came from the device: text nodes only.
import { actionButton, stream } from './app.js';
import { bytes, clear, h, link, table, when } from './dom.js';
import { lineChart } from './charts.js';

/**
 * @param {{ main: HTMLElement, status: (t: string) => void, actions: boolean }} ctx
 * @param {string} id
 */
export function devicePage(ctx, id) {
  const summary = h('section', { 'aria-label': 'summary' });
  const events = h('section', { 'aria-labelledby': 'events-h' });
  const charts = h('section', { 'aria-labelledby': 'telemetry-h' });
  const doc = h('section', { 'aria-labelledby': 'status-h' });
  const inventory = h('section', { 'aria-labelledby': 'inventory-h' });
  ctx.main.append(h('p', {}, link('#/fleet', '← Fleet')), h('h1', { id: 'device-h' }, 'Device ', h('span', { class: 'device-id', text: id })), summary);
  if (ctx.actions) {
    const out = h('p', { role: 'status', id: 'action-result' });
    const question = `Roll ${id} back to its rollback deployment? The command is signed by the dashboard's key.`;
    const done = (/** @type {any} */ r) => `rollback sent to ${r.devices} device${r.devices === 1 ? '' : 's'} (command ${r.nonce}); its status shows it coming back`;
    ctx.main.append(h('div', { class: 'actions' }, actionButton({ label: 'Roll back this device', question, name: 'rollback-device', body: { device: id }, out, done })), out);
  }
  ctx.main.append(events, charts, doc, inventory);
  let inventoryAt = /** @type {string | null | undefined} */ (undefined);
  const es = stream(`/api/stream?device=${encodeURIComponent(id)}`, {
    device: (d) => {
      if (d === null) {
        clear(summary);
        summary.append(h('p', { text: 'The dashboard knows no such device: nothing of it is retained on the broker.' }));
        ctx.main.dataset.state = 'ready';
        return;
      }
      renderSummary(summary, d);
      renderEvents(events, d.events);
      renderTelemetry(charts, d.telemetry, d.telemetryProblem);
      clear(doc);
      doc.append(h('h2', { id: 'status-h', text: 'Status document' }), h('pre', { class: 'document', text: d.status === null ? '(none readable)' : JSON.stringify(d.status, null, 2) }));
      if (d.inventoryUpdatedAt !== inventoryAt) {
        inventoryAt = d.inventoryUpdatedAt;
        void loadInventory(inventory, id);
      }
      ctx.main.dataset.state = 'ready';
    },
  }, ctx.status);
  return { close: () => es.close() };
}

/** @param {HTMLElement} el @param {any} d */
function renderSummary(el, d) {
  const r = d.row;
  clear(el);
  const facts = [
    ['presence', r.presence],
    ['group', r.group ?? '-'],
    ['agent', r.agentVersion ?? '-'],
    ['booted', r.booted ?? '-'],
    ['staged', r.staged ?? '-'],
    ['phase', r.phase ?? '-'],
    ['update', r.updateId ?? '-'],
    ['progress', r.progress === null ? '-' : `${bytes(r.progress.doneBytes)} of ${bytes(r.progress.totalBytes)}`],
    ['health', r.health],
    ['last error', r.lastError === null ? '-' : `${r.lastError.code}: ${r.lastError.message} (${when(r.lastError.at)})`],
    ['last seen', when(r.lastSeen)],
  ];
  el.append(h('dl', { class: 'facts', id: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { 'data-fact': k, text: v })])));
  const problems = Object.entries(r.problems);
  if (problems.length > 0) el.append(h('div', { role: 'alert', class: 'problems' }, h('h2', { text: 'Refused documents' }), h('ul', {}, ...problems.map(([k, v]) => h('li', { text: `${k}: ${v}` })))));
}

/** @param {HTMLElement} el @param {any[]} list */
function renderEvents(el, list) {
  clear(el);
  el.append(h('h2', { id: 'events-h', text: 'Events' }), h('p', { class: 'note', text: 'Events seen since the dashboard started: the broker keeps none.' }));
  const rows = [...list].reverse().map((m) => (m.ok ? [when(m.event.time), m.event.type, m.event.updateId ?? '-', m.event.reason ?? '-'] : [when(m.receivedAt), 'refused', '-', m.reason]));
  el.append(table('events, newest first', ['time', 'event', 'update', 'reason'], rows));
  el.lastElementChild?.querySelector('table')?.setAttribute('id', 'events');
}

/** @param {HTMLElement} el @param {any[]} points @param {string | null} problem */
function renderTelemetry(el, points, problem) {
  clear(el);
  el.append(h('h2', { id: 'telemetry-h', text: 'Telemetry' }));
  if (problem) el.append(h('p', { role: 'alert', text: `last sample refused: ${problem}` }));
  const times = points.map((p) => Date.parse(p.time));
  el.append(
    h(
      'div',
      { class: 'charts' },
      lineChart({ title: 'CPU and memory used', times, max: 100, unit: '%', series: [{ name: 'cpu', values: points.map((p) => round(p.cpuPercent)) }, { name: 'memory', values: points.map((p) => round(p.memoryUsedPercent)) }] }),
      lineChart({ title: 'Temperature', times, unit: '°C', series: [{ name: 'hottest zone', values: points.map((p) => round(p.temperatureCelsius)) }] }),
    ),
  );
}

/** @param {number | null} v */
function round(v) {
  return v === null ? null : Math.round(v * 10) / 10;
}

/** @param {HTMLElement} el @param {string} id */
async function loadInventory(el, id) {
  const r = await fetch(`/api/inventory?device=${encodeURIComponent(id)}`, { credentials: 'same-origin' });
  const { inventory } = r.ok ? await r.json() : { inventory: null };
  clear(el);
  el.append(h('h2', { id: 'inventory-h', text: 'Packages' }));
  if (inventory === null) return void el.append(h('p', { text: 'No inventory retained.' }));
  const search = /** @type {HTMLInputElement} */ (h('input', { id: 'pkg-filter', type: 'search', autocomplete: 'off' }));
  const holder = h('div');
  const draw = () => {
    const f = search.value.trim().toLowerCase();
    const pkgs = inventory.packages.filter((/** @type {any} */ p) => f === '' || p.name.toLowerCase().includes(f));
    clear(holder);
    holder.append(table(`${pkgs.length} of ${inventory.packages.length} packages${pkgs.length > 300 ? ' (first 300 shown)' : ''}`, ['package', 'version', 'arch'], pkgs.slice(0, 300).map((/** @type {any} */ p) => [p.name, p.version, p.arch ?? '-'])));
  };
  search.addEventListener('input', draw);
  el.append(h('p', { text: `${inventory.codename ? `release ${inventory.codename}, ` : ''}updated ${when(inventory.updatedAt)}` }), h('label', { for: 'pkg-filter', text: 'Filter ' }), search, holder);
  draw();
}
