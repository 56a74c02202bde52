// @ts-check
// The rollouts page (docs/dashboard.md, "Rollouts"): each rollout's waves counted against the
// failure limit, a timeline that fills as devices report, the halt reason when it stopped, and
// the pause, resume and abort buttons. The server signs; the page only asks.
import { act, stream } from './app.js';
import { clear, h, link, table, when } from './dom.js';
import { lineChart } from './charts.js';

/**
 * @param {{ main: HTMLElement, status: (t: string) => void }} ctx
 * @param {string | null} group
 */
export function rolloutsPage(ctx, group) {
  const body = h('div');
  const message = h('p', { role: 'status', id: 'action-result' });
  ctx.main.append(h('h1', { text: group === null ? 'Rollouts' : `Rollout of ${group}` }), message, body);
  const es = stream('/api/stream?rollouts=1', {
    rollouts: (/** @type {any} */ d) => {
      clear(body);
      const list = d.rollouts.filter((/** @type {any} */ r) => group === null || r.group === group);
      if (list.length === 0) body.append(h('p', { text: `No rollout in ${d.dir}: the dashboard reads the state files of \`ota fleet rollout\` on its own machine (--rollout-state).` }));
      for (const r of list) body.append('id' in r ? rollout(r, d.actions, message) : h('p', { role: 'alert', text: `${r.file}: ${r.problem}` }));
      ctx.main.dataset.state = 'ready';
    },
  }, ctx.status);
  return { close: () => es.close() };
}

/** @param {number} bp */
const pct = (bp) => `${bp / 100}%`;

/**
 * @param {any} r
 * @param {boolean} actions
 * @param {HTMLElement} message
 */
function rollout(r, actions, message) {
  const section = h('section', { class: 'rollout', 'data-group': r.group, 'aria-label': `rollout of ${r.release.version} to ${r.group}` });
  section.append(
    h('h2', {}, link(`#/rollouts/${encodeURIComponent(r.group)}`, `${r.group}: ${r.release.version}`), ' ', h('span', { class: `phase-word ${r.phase}`, 'data-phase': r.phase, text: r.phase })),
    r.reason ? h('p', { class: r.phase === 'halted' ? 'halt' : 'note', role: r.phase === 'halted' ? 'alert' : null, text: `${r.phase === 'halted' ? 'halted: ' : ''}${r.reason}` }) : null,
    h('p', {
      class: 'note',
      text: `rollout ${r.id}, started ${when(r.startedAt)}; ${r.devices} devices in the group; halts when failures pass ${pct(r.limit.maxFailureBasisPoints)} of the results once ${r.limit.minDevices} ${r.limit.minDevices === 1 ? 'result is' : 'results are'} in; soak ${r.soakSeconds} s`,
    }),
  );
  if (actions) section.append(buttons(r, message));
  section.append(
    table(
      'waves (each holds the ones before it)',
      ['wave', 'share', 'devices', 'succeeded', 'failed', 'updating', 'pending', 'offline', 'progress'],
      r.waves.map((/** @type {any} */ w) => [
        `${w.index + 1}${w.current ? ' (current)' : ''}`,
        pct(w.basisPoints),
        w.started ? String(w.expected) : '-',
        w.started ? String(w.succeeded) : '-',
        w.started ? `${w.failed}${w.overLimit ? ' (over the limit)' : ''}` : '-',
        w.started ? String(w.updating) : '-',
        w.started ? String(w.pending) : '-',
        w.started ? String(w.offline) : '-',
        w.started ? h('progress', { max: Math.max(1, w.expected), value: w.succeeded, 'aria-label': `wave ${w.index + 1}: ${w.succeeded} of ${w.expected} succeeded` }) : 'not started',
      ]),
    ),
  );
  const failed = r.waves.flatMap((/** @type {any} */ w) => (w.current ? w.failedDevices : []));
  if (failed.length > 0) section.append(h('p', { class: 'halt' }, 'failed: ', ...failed.flatMap((/** @type {string} */ d, /** @type {number} */ i) => [i ? ', ' : '', link(`#/device/${encodeURIComponent(d)}`, d)])));
  const t = r.timeline;
  section.append(
    lineChart({
      title: 'Current wave over time: devices by outcome',
      step: true,
      times: t.map((/** @type {any} */ p) => Date.parse(p.time)),
      series: ['succeeded', 'failed', 'updating', 'pending'].map((k) => ({ name: k, values: t.map((/** @type {any} */ p) => p[k]) })),
    }),
  );
  return section;
}

/**
 * @param {any} r
 * @param {HTMLElement} message
 */
function buttons(r, message) {
  const run = async (/** @type {string} */ name, /** @type {string} */ verb, extra = {}) => {
    message.textContent = `${verb}…`;
    try {
      const result = await act(name, { group: r.group, ...extra });
      message.textContent = result.rollback ? `${verb}: done; rollback sent to the ${result.rollback.devices} devices on ${r.release.version} (command ${result.rollback.nonce})` : `${verb}: done`;
    } catch (e) {
      message.textContent = `${verb}: refused: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const ended = r.phase === 'aborted' || r.phase === 'completed';
  return h(
    'div',
    { class: 'actions' },
    h('button', { type: 'button', 'data-action': 'pause', disabled: r.phase !== 'running', onclick: () => run('rollout-pause', 'pause') }, 'Pause'),
    h('button', { type: 'button', 'data-action': 'resume', disabled: r.phase !== 'paused' && r.phase !== 'halted', onclick: () => run('rollout-resume', 'resume') }, 'Resume'),
    h('button', { type: 'button', class: 'danger', 'data-action': 'abort', disabled: ended, onclick: () => confirm(`Abort the rollout of ${r.release.version} to ${r.group}? Devices that took it keep it.`) && run('rollout-abort', 'abort') }, 'Abort'),
    h('button', { type: 'button', class: 'danger', 'data-action': 'abort-rollback', disabled: ended, onclick: () => confirm(`Abort the rollout of ${r.release.version} to ${r.group} and roll back the devices that took it?`) && run('rollout-abort', 'abort and roll back', { rollback: true }) }, 'Abort and roll back'),
  );
}
