// @ts-check
// The rollouts page (docs/dashboard.md, "What it shows"): filled in once the server offers the
// rollouts' view; until then it says so.
import { h } from './dom.js';

/**
 * @param {{ main: HTMLElement, status: (t: string) => void }} ctx
 * @param {string | null} _id
 */
export function rolloutsPage(ctx, _id) {
  ctx.main.append(h('h1', { text: 'Rollouts' }), h('p', { text: 'This dashboard does not show rollouts yet.' }));
  ctx.main.dataset.state = 'ready';
  return { close: () => {} };
}
