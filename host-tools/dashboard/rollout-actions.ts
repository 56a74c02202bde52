/**
 * Pause, resume and abort a rollout from the page (docs/dashboard.md, "Actions"): the same
 * functions as `ota fleet pause|resume|abort G` (host-tools/fleet/rollout-control.ts), on the state
 * file of the group in the dashboard's state folder, signed with the dashboard's key. A running
 * controller reads the file on its next round and follows, as it does for the CLI.
 *
 * @example
 * const actions = rolloutActions({ broker, prefix: 'ota', keyPath: 'keys/', statePath: (g) => `/state/${g}.json` });
 * await actions['rollout-pause']!({ group: 'lab' });
 */
import { abortRollout, pauseRollout, resumeRollout, type ControlOptions, type ControlResult } from '../fleet/rollout-control.js';
import { groupBody, parseBody, requireKey, type ActionOptions } from './actions.js';
import type { Action } from './routes.js';

export function rolloutActions(o: ActionOptions & { statePath: (group: string) => string }): Record<string, Action> {
  const control = (fn: (c: ControlOptions) => Promise<ControlResult>, verb: string): Action => async (body) => {
    const b = parseBody(groupBody, body);
    const r = await fn({ group: b.group, keyPath: requireKey(o.keyPath), broker: o.broker, statePath: o.statePath(b.group), reason: b.reason ?? `${verb} from the dashboard` });
    return { group: r.state.group, phase: r.state.phase };
  };
  return { 'rollout-pause': control(pauseRollout, 'paused'), 'rollout-resume': control(resumeRollout, 'resumed'), 'rollout-abort': control(abortRollout, 'aborted') };
}
