// @ts-check
// Charts as SVG drawn by the page (docs/dashboard.md, "How it is built"): a few lines over time,
// built node by node with createElementNS; labels are text nodes like everything else.
const NS = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 */
function s(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#7f7f7f'];

/**
 * A line chart: one line per series over shared times.
 * With `step`, each value holds until the next (counts that change at moments, not gradually).
 * @param {{ title: string, times: number[], series: { name: string, values: (number | null)[] }[], max?: number, unit?: string, step?: boolean }} o
 * @returns {HTMLElement}
 */
export function lineChart(o) {
  const W = 600;
  const H = 180;
  const pad = { l: 44, r: 8, t: 8, b: 22 };
  const figure = document.createElement('figure');
  figure.className = 'chart';
  const caption = document.createElement('figcaption');
  caption.textContent = o.title;
  figure.appendChild(caption);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': o.title });
  figure.appendChild(svg);
  const all = o.series.flatMap((x) => x.values).filter((v) => v !== null);
  if (o.times.length === 0 || all.length === 0) {
    const p = document.createElement('p');
    p.textContent = 'no samples yet';
    figure.appendChild(p);
    return figure;
  }
  const max = o.max ?? Math.max(1, ...all.map(Number));
  const t0 = o.times[0] ?? 0;
  const t1 = Math.max(t0 + 1, o.times[o.times.length - 1] ?? 0);
  const x = (/** @type {number} */ t) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (/** @type {number} */ v) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  svg.appendChild(s('line', { x1: pad.l, y1: y(0), x2: W - pad.r, y2: y(0), class: 'axis' }));
  for (const v of [0, max / 2, max]) {
    const label = s('text', { x: pad.l - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' });
    label.textContent = `${Math.round(v * 10) / 10}${o.unit ?? ''}`;
    svg.appendChild(label);
  }
  const legend = document.createElement('ul');
  legend.className = 'legend';
  o.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    /** @type {string[]} */
    const points = [];
    series.values.forEach((v, j) => {
      if (v === null) return;
      const px = x(o.times[j] ?? t0).toFixed(1);
      const prev = points.at(-1);
      if (o.step && prev !== undefined) points.push(`${px},${prev.split(',')[1]}`);
      points.push(`${px},${y(v).toFixed(1)}`);
    });
    if (points.length === 1) points.push(points[0].replace(/^[^,]+/, String(W - pad.r)));
    svg.appendChild(s('polyline', { points: points.join(' '), fill: 'none', stroke: color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch c${i % COLORS.length}`;
    li.appendChild(swatch);
    li.appendChild(document.createTextNode(`${series.name}: ${series.values[series.values.length - 1] ?? '-'}${o.unit ?? ''}`));
    legend.appendChild(li);
  });
  figure.appendChild(legend);
  return figure;
}
