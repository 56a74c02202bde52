// @ts-check
// The fleet page (docs/dashboard.md, "What it shows"): counts by presence, version and phase, the
// versions over time, and the devices, a page of rows at a time (a fleet of 10,000 is one
// filter away, and the browser draws 100 rows, not 10,000).
import { actionButton, stream } from './app.js';
import { clear, h, link, when } from './dom.js';
import { lineChart } from './charts.js';

const PAGE = 100;

/**
 * @param {{ main: HTMLElement, status: (t: string) => void, actions: boolean }} ctx
 */
export function fleetPage(ctx) {
  /** @type {Map<string, any>} */
  const rows = new Map();
  /** @type {{ time: string, byVersion: Record<string, number> }[]} */
  let history = [];
  let page = 0;
  let filter = '';
  const counts = h('section', { 'aria-labelledby': 'counts-h' });
  const chart = h('section', { 'aria-label': 'versions over time' });
  const list = h('section', { 'aria-labelledby': 'devices-h' });
  const search = /** @type {HTMLInputElement} */ (h('input', { id: 'filter', type: 'search', placeholder: 'device, group, version, phase…', autocomplete: 'off' }));
  search.addEventListener('input', () => {
    filter = search.value.trim().toLowerCase();
    page = 0;
    schedule();
  });
  const pager = h('div', { class: 'pager' });
  const tableHolder = h('div');
  const groups = h('div', { class: 'actions' });
  ctx.main.append(h('h1', { text: 'Fleet' }), counts, chart, groups, h('h2', { id: 'devices-h', text: 'Devices' }), h('label', { for: 'filter', text: 'Filter ' }), search, pager, tableHolder);
  list.remove();
  let groupNames = '';
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  }
  function render() {
    renderCounts(counts, [...rows.values()]);
    if (ctx.actions) groupNames = renderGroups(groups, rows, groupNames);
    clear(chart);
    chart.appendChild(versionsChart(history));
    const shown = [...rows.values()].filter((r) => matches(r, filter)).sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    clear(pager);
    pager.append(
      h('button', { type: 'button', disabled: page === 0, onclick: () => ((page = Math.max(0, page - 1)), render()) }, 'Previous'),
      h('span', { text: ` page ${page + 1} of ${pages} (${shown.length} devices) ` }),
      h('button', { type: 'button', disabled: page >= pages - 1, onclick: () => ((page = page + 1), render()) }, 'Next'),
    );
    clear(tableHolder);
    tableHolder.appendChild(deviceTable(shown.slice(page * PAGE, (page + 1) * PAGE)));
    ctx.main.dataset.state = 'ready';
  }
  const es = stream('/api/stream', {
    snapshot: (d) => {
      rows.clear();
      for (const r of unpack(d)) rows.set(r.device, r);
      history = d.history;
      schedule();
    },
    rows: (d) => {
      for (const r of unpack(d)) rows.set(r.device, r);
      for (const id of d.removed) rows.delete(id);
      schedule();
    },
    history: (p) => {
      history.push(p);
      if (history.length > 360) history.shift();
      schedule();
    },
  }, ctx.status);
  return { close: () => es.close() };
}

/**
 * Rows arrive as arrays in the order of `fields` (a third of their size as objects).
 * @param {{ fields: string[], rows: unknown[][] }} d
 * @returns {any[]}
 */
function unpack(d) {
  return d.rows.map((a) => Object.fromEntries(d.fields.map((f, i) => [f, a[i]])));
}

/** @param {any} r @param {string} f */
function matches(r, f) {
  if (f === '') return true;
  return [r.device, r.group, r.booted, r.phase, r.presence, r.health].some((v) => typeof v === 'string' && v.toLowerCase().includes(f));
}

/** @param {HTMLElement} el @param {any[]} all */
function renderCounts(el, all) {
  /** @type {Record<string, Record<string, number>>} */
  const by = { presence: {}, version: {}, phase: {} };
  let malformed = 0;
  for (const r of all) {
    by.presence[r.presence] = (by.presence[r.presence] ?? 0) + 1;
    by.version[r.booted ?? '(none)'] = (by.version[r.booted ?? '(none)'] ?? 0) + 1;
    by.phase[r.phase ?? '(none)'] = (by.phase[r.phase ?? '(none)'] ?? 0) + 1;
    if (r.malformed) malformed++;
  }
  clear(el);
  const group = (/** @type {string} */ title, /** @type {Record<string, number>} */ counts) =>
    h('div', { class: 'count-group' }, h('h3', { text: title }), h('dl', {}, ...Object.entries(counts).sort((a, b) => b[1] - a[1]).flatMap(([k, n]) => [h('dt', { text: k }), h('dd', { text: n })])));
  el.append(
    h('h2', { id: 'counts-h', text: `${all.length} devices` }),
    h('div', { class: 'counts' }, group('Presence', by.presence), group('Booted version', by.version), group('Phase', by.phase), malformed > 0 ? group('Refused documents', { devices: malformed }) : null),
  );
}

/** @param {{ time: string, byVersion: Record<string, number> }[]} history */
function versionsChart(history) {
  const totals = new Map();
  for (const p of history) for (const [v, n] of Object.entries(p.byVersion)) totals.set(v, Math.max(totals.get(v) ?? 0, n));
  const names = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([v]) => v);
  return lineChart({
    title: 'Devices per booted version over time',
    step: true,
    times: history.map((p) => Date.parse(p.time)),
    series: names.map((name) => ({ name, values: history.map((p) => p.byVersion[name] ?? 0) })),
  });
}

/** @param {any[]} rows */
function deviceTable(rows) {
  const body = h('tbody');
  for (const r of rows) {
    const tr = h(
      'tr',
      { 'data-device': r.device, class: r.malformed ? 'malformed' : null },
      h('th', { scope: 'row' }, link(`#/device/${encodeURIComponent(r.device)}`, r.device)),
      h('td', { text: r.group ?? '-' }),
      h('td', { class: `presence ${r.presence}`, text: r.presence }),
      h('td', { text: r.booted ?? '-' }),
      h('td', { class: 'phase', text: r.phase ?? '-' }),
      h('td', { class: `health ${r.health}`, text: r.health }),
      h('td', { text: r.progress === null ? '-' : `${r.progress}%` }),
      h('td', { text: when(r.lastSeen) }),
      h('td', { class: 'error', text: r.malformed ? 'document refused' : (r.lastError ?? '-') }),
    );
    body.appendChild(tr);
  }
  return h(
    'div',
    { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'devices' },
    h('table', { id: 'devices' }, h('thead', {}, h('tr', {}, ...['device', 'group', 'presence', 'booted', 'phase', 'health', 'progress', 'last seen', 'last error'].map((c) => h('th', { scope: 'col', text: c })))), body),
  );
}

/**
 * The group rollback: a group picked among those the devices name, and its button. Redrawn only
 * when the set of groups changes, so a choice is not lost to a device's update.
 * @param {HTMLElement} el @param {Map<string, any>} rows @param {string} drawn
 */
function renderGroups(el, rows, drawn) {
  const names = [...new Set([...rows.values()].map((r) => r.group).filter((g) => typeof g === 'string'))].sort();
  const key = names.join('\n');
  if (key === drawn) return drawn;
  clear(el);
  if (names.length === 0) return key;
  const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'group-pick' }, ...names.map((g) => h('option', { value: g, text: g }))));
  const out = h('p', { role: 'status', id: 'action-result' });
  el.append(h('label', { for: 'group-pick', text: 'Group ' }), select, ' ', groupButton(select, out), out);
  return key;
}

/**
 * The button of the group chosen: drawn again when the choice changes, so its question and body name it.
 * @param {HTMLSelectElement} select @param {HTMLElement} out
 */
function groupButton(select, out) {
  const holder = h('span');
  const draw = () => {
    clear(holder);
    holder.append(
      actionButton({
        label: 'Roll the group back',
        question: `Roll every device of group ${select.value} back to its rollback deployment? The command is signed by the dashboard's key.`,
        name: 'rollback-group',
        body: { group: select.value },
        out,
        done: (r) => `rollback sent to group ${select.value}: ${r.devices} device${r.devices === 1 ? '' : 's'} (command ${r.nonce})`,
      }),
    );
  };
  select.addEventListener('change', draw);
  draw();
  return holder;
}
