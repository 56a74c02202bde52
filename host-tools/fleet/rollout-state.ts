/**
 * The controller's memory of a rollout (docs/fleet.md, "Where a rollout's state lives"): one JSON file per
 * group, written atomically, that `ota fleet rollout` reads again when restarted with the same command and that
 * `ota fleet pause|resume|abort` edit. Also the parsing of the command's waves, soak and rate options, so a
 * bad option is refused before anything is read or written.
 *
 * @example
 * const state = await loadRolloutState(defaultStatePath('canary'));
 * state?.phase; // 'running'
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { API_VERSION, ID_PATTERN, ROLLOUT_FULL } from '../../contract/index.js';

/** The controller's phases: the three a rollout document carries, and how a rollout ends. */
export const CONTROL_PHASES = ['running', 'paused', 'aborted', 'halted', 'completed'] as const;
export type ControlPhase = (typeof CONTROL_PHASES)[number];

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const iso = z.iso.datetime({ offset: true });

export const rolloutStateSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('RolloutControl'),
  id: z.string().min(1).max(64).regex(ID_PATTERN),
  group: z.string().min(1).max(64).regex(ID_PATTERN),
  prefix: z.string().min(1).max(128),
  release: z.strictObject({ file: z.string().min(1), version: z.string().min(1).max(128), commit: hex64, sha256: hex64 }),
  /** Each wave's share of the group, in basis points, increasing, the last 10000. */
  waves: z.array(z.number().int().min(1).max(ROLLOUT_FULL)).min(1).max(64),
  soakSeconds: z.number().int().min(0),
  /** The failure rate that halts, in basis points of the results (500 = 5%). */
  maxFailureBasisPoints: z.number().int().min(0).max(ROLLOUT_FULL),
  minDevices: z.number().int().min(1),
  startedAt: iso,
  phase: z.enum(CONTROL_PHASES),
  reason: z.string().max(2048).nullable(),
  wave: z.strictObject({ index: z.number().int().min(0), startedAt: iso, soakStartedAt: iso.nullable() }),
  /** The `iat` (Unix seconds) of the last rollout document signed: each one after must be later (docs/contract.md, "Rollout"). */
  lastIssuedAt: z.number().int().min(0),
  /** The devices whose failure a halt named. */
  failedDevices: z.array(z.string()).max(100_000),
  /** Failed devices a resume after a halt let go: they no longer count, nor hold a wave. */
  excused: z.array(z.string()).max(100_000),
});

export type RolloutControl = z.infer<typeof rolloutStateSchema>;

/**
 * Where a group's rollout state lives by default: `$XDG_STATE_HOME/deb-ota/rollouts/<group>.json`, else
 * `~/.local/state/deb-ota/rollouts/<group>.json`.
 */
export function defaultStatePath(group: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME !== undefined && env.XDG_STATE_HOME !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local/state');
  return join(base, 'deb-ota', 'rollouts', `${group}.json`);
}

/** The state in `path`, or null when there is none. A file that does not parse is refused, never overwritten. */
export async function loadRolloutState(path: string): Promise<RolloutControl | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new OtaError('ERR_OTA_STATE', `rollout state ${path}: cannot read it (${(e as Error).message})`, { hint: 'check the file and its permissions', cause: e });
  }
  const r = (() => {
    try {
      return rolloutStateSchema.safeParse(JSON.parse(text));
    } catch (e) {
      return { success: false as const, error: e as Error };
    }
  })();
  if (!r.success) {
    throw new OtaError('ERR_OTA_STATE', `rollout state ${path}: it is not a rollout state (${r.error.message.slice(0, 200)})`, { hint: 'it was written by another tool, or damaged; move it away to start a new rollout (the retained rollout document stays on the broker)' });
  }
  return r.data;
}

export async function saveRolloutState(path: string, state: RolloutControl): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(rolloutStateSchema.parse(state), null, 2)}\n`, 0o600);
}

/** The state with which a paused, aborted or halted rollout can no longer publish: it ended. */
export function ended(phase: ControlPhase): boolean {
  return phase === 'aborted' || phase === 'halted' || phase === 'completed';
}

function usage(option: string, value: string, hint: string): OtaError {
  return new OtaError('ERR_OTA_USAGE', `${option} ${JSON.stringify(value)}: ${hint}`, { hint });
}

/** `1%,10%,50%,100%` as basis points, increasing, ending at the whole group. */
export function parseWaves(text: string): number[] {
  const hint = 'increasing percentages separated by commas, ending with 100%, e.g. 1%,10%,50%,100% (0.01% steps)';
  const waves = text.split(',').map((p) => {
    const m = /^\s*(\d{1,3}(?:\.\d{1,2})?)%\s*$/.exec(p);
    if (m === null) throw usage('--waves', text, hint);
    return Math.round(Number(m[1]) * 100);
  });
  if (waves.length > 64 || waves.some((w, i) => w < 1 || w > ROLLOUT_FULL || (i > 0 && w <= waves[i - 1]!)) || waves.at(-1) !== ROLLOUT_FULL) throw usage('--waves', text, hint);
  return waves;
}

/** `10m`, `30s`, `1h`, `0` as seconds; `option` names the flag in the error. */
export function parseDuration(text: string, option = '--soak'): number {
  const m = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (m === null) throw usage(option, text, 'a duration such as 0, 30s, 10m or 2h');
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

/** `5%` as basis points. */
export function parseRate(text: string): number {
  const m = /^(\d{1,3}(?:\.\d{1,2})?)%$/.exec(text.trim());
  const bp = m === null ? NaN : Math.round(Number(m[1]) * 100);
  if (!(bp >= 0 && bp <= ROLLOUT_FULL)) throw usage('--max-failure-rate', text, 'a percentage from 0% to 100%, e.g. 5%');
  return bp;
}

/** `--min-devices` as a whole number from 1. */
export function parseMinDevices(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n)) throw usage('--min-devices', text, 'a whole number from 1');
  return n;
}
