// @ts-check
// Building the page from data (docs/dashboard.md, "Security model"): every string a device sent
// becomes a text node, never markup. Nothing in the page uses innerHTML, insertAdjacentHTML or
// document.write, and the Content-Security-Policy refuses inline script should a bug try.

/**
 * An element with attributes and children; strings become text nodes.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {Node} el
 * @param {(Node | string | number | null | undefined | false)[]} children
 */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** @param {Node} el */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/**
 * A table with a caption and a header row; rows are arrays of cells (strings or nodes).
 * @param {string} caption
 * @param {string[]} head
 * @param {(Node | string | number | null)[][]} rows
 */
export function table(caption, head, rows) {
  return h(
    'div',
    { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h(
      'table',
      {},
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c ?? '-'))))),
    ),
  );
}

/** @param {number | null | undefined} n */
export function bytes(n) {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A link inside the page (hash routing). @param {string} href @param {string} label */
export function link(href, label) {
  return h('a', { href, text: label });
}
