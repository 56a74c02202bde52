/**
 * Pause, resume and abort a rollout from the page (docs/dashboard.md, "Actions"): the same
 * functions as `ota fleet pause|resume|abort G [--rollback]` (host-tools/fleet/rollout-control.ts),
 * on the state file of the group in the dashboard's state folder, signed with the dashboard's
 * key. A running controller reads the file on its next round and follows, as it does for the CLI.
 *
 * @example
 * const actions = rolloutActions({ broker, prefix: 'ota', keyPath: 'keys/', statePath: (g) => `/state/${g}.json` });
 * await actions['rollout-abort']!({ group: 'lab', rollback: true });
 */
import { z } from 'zod';
import { abortRollout, pauseRollout, resumeRollout, type ControlOptions } from '../fleet/rollout-control.js';
import { groupBody, parseBody, requireKey, type ActionOptions } from './actions.js';
import type { Action } from './routes.js';

const abortBody = groupBody.extend({ rollback: z.boolean().optional() });

export function rolloutActions(o: ActionOptions & { statePath: (group: string) => string }): Record<string, Action> {
  const options = (b: { group: string; reason?: string }, verb: string): ControlOptions => ({ group: b.group, keyPath: requireKey(o.keyPath), broker: o.broker, statePath: o.statePath(b.group), reason: b.reason ?? `${verb} from the dashboard` });
  const control = (fn: typeof pauseRollout, verb: string): Action => async (body) => {
    const r = await fn(options(parseBody(groupBody, body), verb));
    return { group: r.state.group, phase: r.state.phase };
  };
  return {
    'rollout-pause': control(pauseRollout, 'paused'),
    'rollout-resume': control(resumeRollout, 'resumed'),
    // With rollback, one signed group command returns the devices on the release; not waited for: the page shows them come back.
    'rollout-abort': async (body) => {
      const b = parseBody(abortBody, body);
      const r = await abortRollout({ ...options(b, 'aborted'), ...(b.rollback === true ? { rollback: { timeoutSeconds: 0 } } : {}) });
      return { group: r.state.group, phase: r.state.phase, rollback: r.rollback === null ? null : { nonce: r.rollback.nonce, devices: r.rollback.counts.devices } };
    },
  };
}
